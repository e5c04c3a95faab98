"""The demo's people, organizations and ticket texts: data only, no behaviour."""

from __future__ import annotations

import calendar

from helpline.domains.accounts.models import Role

GROUPS = {
    "Billing": "Invoices, refunds, plans and orders",
    "Technical": "Sign-in, bugs and integrations",
    "Sales": "Quotes, trials and feature requests",
}
STAFF = [  # (name, email, role, groups)
    ("Maya Patel", "maya@example.com", Role.agent, ["Billing"]),
    ("Jonas Weber", "jonas@example.com", Role.agent, ["Billing", "Sales"]),
    ("Priya Shah", "priya@example.com", Role.agent, ["Technical"]),
    ("Diego Alvarez", "diego@example.com", Role.agent, ["Technical"]),
    ("Hannah Kim", "hannah@example.com", Role.agent, ["Sales"]),
    ("Tom Okafor", "tom@example.com", Role.agent, ["Technical", "Billing"]),
    ("Sam Lee", "sam@example.com", Role.light_agent, ["Technical"]),
]
PLANS = ["Free", "Starter", "Pro", "Enterprise"]
CUSTOM_FIELDS = [  # key, label, type, options, customer_visible
    ("order_number", "Order number", "text", [], True),
    ("plan", "Plan", "dropdown", PLANS, False),
    ("refund_amount", "Refund amount", "number", [], False),
]


def _table(text: str) -> list[list[str]]:
    """Rows of an ``a | b | c`` text block. An indented line continues the row above it; ``//`` in a
    cell is a paragraph break."""
    rows: list[str] = []
    for line in text.strip("\n").splitlines():
        if line.startswith(" ") and rows:
            rows[-1] += " " + line.strip()
        elif line.strip():
            rows.append(line.strip())
    return [[cell.strip().replace(" // ", "\n\n") for cell in row.split(" | ")] for row in rows]


def _cells(text: str) -> list[str]:
    return [c.strip() for c in text.replace("\n", "|").split("|") if c.strip()]


ORGS = _cells("""
Northwind Traders | Globex | Initech | Bluebird Bakery | Kestrel Analytics | Harbor & Pine | Lumen Dental
Mosaic Learning | Northstar Fitness | Orchard Grocers | Quill Publishing | Redwood Legal | Silverline Travel
Tidewater Marine | Verdant Gardens | Willow Pediatrics | Zephyr Bikes | Atlas Freight | Copperleaf Hotels
Driftwood Studios | Ember Coffee Roasters | Fjord Outdoor | Granite Insurance | Helix Labs | Kite Payments
""")
FIRST = _cells("""
Olivia|Liam|Emma|Noah|Ava|Elijah|Sofia|Lucas|Mia|Mateo|Amara|Kenji|Leila|Omar|Chloe|Ivan|Nora|Ravi|Grace|Felix
Zara|Hugo|Ines|Malik|Yuki|Aaron|Bea|Carlos|Dana|Erik|Fatima|Gabe|Hana|Isaac|Jade
""")
LAST = _cells("""
Smith|Garcia|Chen|Müller|Okoye|Rossi|Novak|Silva|Tanaka|Kowalski|Haddad|Larsen|Dubois|Moreau|Nguyen|Fischer
Brennan|Costa|Ahmed|Park|Jensen|Ortiz|Walsh|Ibrahim|Schmidt|Lopez|Andersen|Kaur|Petrov
""")

# category | subject | customer's first message. Placeholders: first order amount invoice plan month company.
TEMPLATES = _table("""
billing | Charged twice for the {month} invoice | Hi, // Our card was charged twice for invoice {invoice}
    this month (${amount} each). Could you refund the duplicate? // Thanks, {first}
refund | Refund request for order {order} | Hello, I returned order {order} two weeks ago and still haven't
    seen the ${amount} refund. The courier confirmed delivery to your warehouse.
billing | Can't download invoice PDF | When I click "Download PDF" on invoice {invoice} I get a blank page.
    Our accountant needs it by Friday.
billing | Update billing address and VAT number | We moved offices. Please update the billing address for
    {company} and add our VAT number to future invoices.
refund | Downgrading from {plan}: will I get a credit? | We want to move from {plan} to a smaller plan
    mid-cycle. Do we get a prorated credit of roughly ${amount}?
billing | Card declined on renewal | Our renewal failed with "card declined" but the card works everywhere
    else. Is there a problem on your side?
billing | Why did our bill go up? | The {month} invoice is ${amount} higher than last month and nobody here
    changed the plan. Can you explain the difference?
login | Locked out after too many password attempts | I mistyped my password a few times and now I'm locked
    out. I have a customer call in an hour, please help!
login | Password reset email never arrives | I've requested the reset link three times. Nothing in my inbox
    or spam folder. My address is the one I'm writing from.
login | Two-factor codes are not accepted | My authenticator codes keep being rejected since I got a new
    phone. I still have the old phone but it's been factory reset.
login | SSO sign-in loops back to the login page | Since this morning everyone at {company} who signs in
    with SSO ends up back on the login page. Password users are fine.
login | New teammate can't accept the invitation | I invited a colleague yesterday; the link says "expired"
    even though it was sent an hour ago.
shipping | Where is my order {order}? | Order {order} was supposed to arrive on Monday. Tracking hasn't
    updated in five days. Can you check with the carrier?
shipping | Package marked delivered but not received | Tracking for {order} says it was delivered yesterday
    at 2pm but nothing arrived. The neighbours don't have it either.
refund | Wrong item in order {order} | I ordered the blue one and received a grey one. I'd like a refund of
    ${amount} or an exchange, whichever is faster.
shipping | Change delivery address for order {order} | Can I still change the delivery address for {order}?
    I'll be away next week.
refund | Arrived damaged: order {order} | The box for {order} was crushed and the item is cracked. Photos
    attached. I'd like a replacement or a ${amount} refund.
bug | CSV export produces an empty file | Exporting the contacts list gives a CSV with only the header row.
    It worked last week. Chrome on Windows.
bug | Mobile app crashes when opening attachments | The iOS app closes immediately when I tap a PDF
    attachment. Reinstalling didn't help.
bug | Dashboard totals are wrong since the update | Since the latest release the revenue widget shows about
    half of what our reports say. Screenshot attached.
bug | Webhook deliveries failing with HTTP 500 | Our endpoint is up, but your dashboard shows every webhook
    since yesterday failed with 500 and the retries stopped.
bug | Search doesn't find recent records | Records created today don't show up in search, even when I paste
    the exact name. Older ones are fine.
bug | Our emails to customers land in spam | Since Tuesday, messages sent from {company} go to spam at Gmail
    and Outlook. Did something change with DKIM?
feature | Feature request: dark mode | Our team works late shifts. A dark theme would really help with eye
    strain. Any plans?
feature | API endpoint for bulk updates? | We update a few thousand records every night and hit the rate
    limits. Is a bulk endpoint on the roadmap?
feature | Slack notifications | Could you send notifications to a Slack channel? Email gets buried for us.
feature | Custom roles with finer permissions | We'd like a role that can view billing but not change it. Is
    that possible on {plan}?
sales | Quote for 50 seats on Enterprise | We're growing and need a quote for 50 seats on Enterprise, billed
    annually, for {company}.
sales | Nonprofit discount? | {company} is a registered nonprofit. Do you offer a discount?
sales | Trial extension request | Our trial ends tomorrow but the decision-maker is on holiday. Could you
    extend it by two weeks?
sales | Data processing agreement for our legal team | Legal needs a signed DPA before we can roll out to
    the whole company. Where can I get one?
""")
CATEGORY = {  # category: (group, ticket types, tags)
    "billing": ("Billing", ["question", "incident"], ["billing", "invoice", "payment"]),
    "refund": ("Billing", ["problem", "complaint"], ["refund", "billing", "returns"]),
    "shipping": ("Billing", ["problem", "question"], ["shipping", "delivery-delay", "carrier"]),
    "login": ("Technical", ["incident", "problem"], ["login", "2fa", "sso", "password-reset"]),
    "bug": ("Technical", ["incident", "problem"], ["bug", "mobile-app", "export", "webhooks", "regression"]),
    "feature": ("Sales", ["task", "question"], ["feature-request", "roadmap", "api"]),
    "sales": ("Sales", ["question", "task"], ["sales", "quote", "trial", "legal"]),
    "product": ("Technical", ["incident", "question"], ["hardware", "setup", "product"]),
}
# category | the agent's first reply | a later reply
REPLIES = {
    r[0]: r[1:]
    for r in _table("""
billing | Hi {first}, // Thanks for flagging this. I can see the charge on our side and I'm looking into it
    with our payments team now. | I've corrected this and you'll see the change on your next invoice. A copy
    of the corrected invoice is attached.
refund | Hi {first}, // Sorry about that! I've started a refund of ${amount}; it usually takes 5-7 business
    days to show up. | Could you send a photo of the item and the packing slip so I can finish processing
    this?
shipping | Hi {first}, // I've opened a trace with the carrier for {order} and will update you within 48
    hours. | Good news: the carrier located the parcel and it is out for delivery today.
login | Hi {first}, // I've unlocked your account. Please try signing in again and let me know if it works.
    | Could you tell me which browser you're using and whether you see an error message?
bug | Hi {first}, // Thanks for the detailed report. I could reproduce it and have passed it to our
    engineers. | A fix went out this morning. Could you refresh the page and try again?
feature | Hi {first}, // Thanks for the suggestion! I've added your vote; our product team reviews these
    every month. | This is on the roadmap for next quarter. I'll let you know when it ships.
sales | Hi {first}, // Happy to help. I've prepared a quote and attached it; it's valid for 30 days. | I've
    extended your trial by 14 days. Let me know if a call would help.
product | Hi {first}, // Sorry to hear that. Could you try a full power cycle and then a factory reset? |
    I've arranged a replacement under warranty; you'll receive a shipping label by email.
""")
}
FOLLOW_UPS = [
    r[0]
    for r in _table("""
Thanks, that worked!
I tried that but I still see the same thing.
Any update on this?
Here's the screenshot you asked for.
Great, thank you for the quick help.
Sorry, one more question: does this also apply to our other accounts?
It happened again this morning, unfortunately.
""")
]
NOTES = [
    r[0]
    for r in _table("""
Checked the logs: this matches the incident from last week.
Customer has a renewal call next week; handle with care.
Escalated to engineering, waiting for a fix.
Reproduced on staging.
Verified identity by phone before making changes.
Looks like a duplicate of an older ticket; keeping this one open.
Payments dashboard shows two captures; refunding one.
""")
]
CLOSING = "Glad we could sort this out, {first}! I'll mark this as solved; just reply if anything comes up."
MONTHS = list(calendar.month_name)[1:]

#: Canned responses of the demo workspace: (title, body, group name or None for everyone).
CANNED = [
    (
        "Greeting",
        "Hi {{ customer.first_name }},\n\nThanks for getting in touch about ticket #{{ ticket.number }}. "
        "I'm looking into it now.\n\n{{ agent.name }}",
        None,
    ),
    (
        "Need more details",
        "Hi {{ customer.first_name }},\n\nCould you send a screenshot and the exact steps you "
        "took? That lets us reproduce it.\n\nThanks,\n{{ agent.first_name }}",
        None,
    ),
    (
        "Refund issued",
        "Hi {{ customer.first_name }},\n\nYour refund is on its way; it shows on your statement "
        "within 5 business days.\n\n{{ agent.name }}, Billing",
        "Billing",
    ),
    (
        "Closing: solved",
        "Hi {{ customer.first_name }},\n\nI'm marking this as solved. Just reply if anything "
        "is still not right and the ticket reopens.\n\n{{ agent.name }}",
        None,
    ),
]
