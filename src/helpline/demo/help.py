"""The demo's help centre and chat widget: a few categories of articles written for the demo's
customers (public and published, one internal, one translated), so the help centre, search,
suggestions on the portal and on tickets, and the answer bot have something to show; and a chat
widget allowed on the install's own address."""

from __future__ import annotations

from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.chat import widgets
from helpline.domains.knowledge import service as kb
from helpline.platform.runtime import Platform

#: category: (description, section, [(title, markdown, visibility)])
ARTICLES: dict[str, tuple[str, str, list[tuple[str, str, str]]]] = {
    "Account and sign-in": (
        "Passwords, two-factor authentication and who can sign in",
        "Signing in",
        [
            (
                "Reset your password",
                "If you forgot your password, open the sign-in page and choose **Forgot your password?**. "
                "Enter the email address of your account: we send a link that works once, for one hour.\n\n"
                "No email after five minutes? Look in your spam folder, and check that you typed the "
                "address your account uses. A link that has expired can simply be asked for again.",
                "public",
            ),
            (
                "Turn on two-factor authentication",
                "Open **Profile → Two-factor authentication**, scan the QR code with an authenticator app "
                "and type the six-digit code it shows. Keep the recovery codes somewhere safe: each one "
                "signs you in once if you lose your phone.",
                "public",
            ),
        ],
    ),
    "Billing": (
        "Invoices, refunds and plans",
        "Payments and plans",
        [
            (
                "Request a refund",
                "Refunds are possible within **30 days** of a payment. Open a request from the portal with "
                "your order number and the reason; the billing team answers within one working day.\n\n"
                "The money goes back to the card or account that paid, within 5 to 10 working days.",
                "public",
            ),
            (
                "Change your plan",
                "Admins of your account can move between the Free, Starter, Pro and Enterprise plans at "
                "any time under **Settings → Billing**. An upgrade starts at once and is charged pro rata; "
                "a downgrade starts at the next billing date.",
                "public",
            ),
            (
                "Download an invoice",
                "Every invoice is under **Settings → Billing → Invoices** as a PDF. Need a company name or "
                "VAT number on it? Add them under **Billing details** before the next invoice is made.",
                "public",
            ),
            (
                "Refund approval limits",
                "Agents approve refunds up to 200 EUR themselves; above that, ask a Billing lead and add "
                "a note to the ticket with their answer.",
                "internal",
            ),
        ],
    ),
    "Troubleshooting": (
        "When something does not work as expected",
        "Common problems",
        [
            (
                "Dashboard totals look wrong after an update",
                "After an update the dashboard recalculates its totals in the background, which can take "
                "up to an hour for large accounts. Until then some figures may be lower than expected.\n\n"
                "If the totals are still wrong the next day, open a request with a screenshot and the "
                "date range you selected.",
                "public",
            ),
            (
                "The app is slow or does not load",
                "Reload the page, then try a private window: an old cached version or a browser "
                "extension is the most common cause. Our status page shows any incident in progress.",
                "public",
            ),
        ],
    ),
}
TRANSLATIONS = {  # title of an English article: (locale, title, markdown)
    "Reset your password": (
        "fr",
        "Réinitialiser votre mot de passe",
        "Mot de passe oublié ? Sur la page de connexion, choisissez **Mot de passe oublié ?** et saisissez "
        "l'adresse e-mail de votre compte : nous envoyons un lien valable une fois, pendant une heure.",
    ),
}


async def load_help(platform: Platform, admin: Principal) -> int:
    """The articles above, published (the internal one for agents only); how many were written."""
    written = 0
    async with platform.db.transaction() as uow:
        for category, (description, section, articles) in ARTICLES.items():
            category_id = await kb.do_create_category(uow, admin, category, description=description)
            section_id = await kb.do_create_category(uow, admin, section, parent_id=category_id)
            for title, body, visibility in articles:
                aid = await kb.do_create_article(
                    uow, admin, kb.ArticleInput(title, body, section_id=section_id, visibility=visibility)
                )
                await kb.do_set_state(uow, admin, aid, "en", "published")
                written += 1
                if title in TRANSLATIONS:
                    locale, t_title, t_body = TRANSLATIONS[title]
                    await kb.do_save_translation(uow, admin, aid, kb.ArticleInput(t_title, t_body, locale))
                    await kb.do_set_state(uow, admin, aid, locale, "published")
    return written


async def load_chat_widget(platform: Platform, admin: Principal) -> None:
    """A chat widget that pages of the install's own address may show (see /admin/chat-widgets)."""
    async with platform.db.transaction() as uow:
        await widgets.create(
            uow,
            admin,
            widgets.WidgetWrite(
                name="Acme Help",
                allowed_origins=[platform.settings.public_url()],
                greeting="Hi! Ask us anything: our help centre answers first, a person when you need one.",
            ),
        )
