"""Quoted history and signatures fold into ``<details>`` on the markup real mail clients send (Gmail,
Outlook on the web and on Windows, Thunderbird, Apple Mail, plain text), and only what trails or
opens the sender's own text: an inline answer keeps its quotes, a forward and a bare quote stay open.
Pure functions: no database."""

from __future__ import annotations

from email.message import EmailMessage

from helpline.domains.channels.email import images, quotes
from helpline.domains.channels.email.parse import Limits, parse
from helpline.domains.channels.email.process import render
from helpline.domains.tickets import content

OPEN = "<details><summary>Show quoted text</summary>"

GMAIL = """<div dir="ltr">Thanks, that fixed it!<div><br></div><div><br clear="all"><div><span class="gmail_signature_prefix">-- </span><br><div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature"><div dir="ltr">Carla Customer<br>Customer Corp | +1 555 0100</div></div></div></div></div><br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Mon, Jan 8, 2024 at 10:02 AM Acme Support &lt;<a href="mailto:support@acme.test">support@acme.test</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex"><div>Try turning it off and on again.<br><br>-- <br>Acme Support</div></blockquote></div>
"""  # noqa: E501 (mail clients' markup, verbatim)

OUTLOOK_WEB = """<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">
<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>
</head>
<body dir="ltr">
<div class="elementToProof" style="font-family: Aptos, Aptos_EmbeddedFont, Calibri, Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);">
Hi, it still does not print.</div>
<div id="Signature">
<div style="font-family: Calibri, Arial, Helvetica, sans-serif; font-size: 12pt;">Dan Dobbs<br>Buyer, Customer Corp</div>
</div>
<div id="appendonsend"></div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000"><b>From:</b> Acme Support &lt;support@acme.test&gt;<br>
<b>Sent:</b> Monday, January 8, 2024 10:02 AM<br>
<b>To:</b> Dan Dobbs &lt;dan@customer.test&gt;<br>
<b>Subject:</b> Re: Printer on fire [#12]</font>
<div>&nbsp;</div>
</div>
<div class="BodyFragment"><font size="2"><span style="font-size:11pt;">
<div class="PlainText">Try turning it off and on again.</div>
</span></font></div>
</body>
</html>
"""  # noqa: E501 (mail clients' markup, verbatim)

OUTLOOK_DESKTOP = """<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word" xmlns="http://www.w3.org/TR/REC-html40">
<head><meta name="Generator" content="Microsoft Word 15 (filtered medium)"><style><!--
p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt; font-family:"Calibri",sans-serif;}
--></style></head>
<body lang="DE" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">
<div class="WordSection1">
<p class="MsoNormal">Es brennt immer noch.<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal">Gr&uuml;&szlig;e<o:p></o:p></p>
<p class="MsoNormal">Dieter<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class="MsoNormal"><b>Von:</b> Acme Support &lt;support@acme.test&gt; <br><b>Gesendet:</b> Montag, 8. Januar 2024 10:02<br><b>An:</b> Dieter &lt;dieter@kunde.test&gt;<br><b>Betreff:</b> Re: Drucker brennt [#12]<o:p></o:p></p>
</div>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal">Bitte aus- und wieder einschalten.<o:p></o:p></p>
</div>
</body>
</html>
"""  # noqa: E501 (mail clients' markup, verbatim)

THUNDERBIRD = """<!DOCTYPE html>
<html>
  <head>
    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
  </head>
  <body>
    <p>Done, thanks. It prints again.<br>
    </p>
    <div class="moz-signature">-- <br>
      Erik Example<br>
      Example AB</div>
    <div class="moz-cite-prefix">On 08/01/2024 10:02, Acme Support wrote:<br>
    </div>
    <blockquote type="cite" cite="mid:hl.12.abc@acme.test">
      <p>Try turning it off and on again.</p>
    </blockquote>
  </body>
</html>
"""

THUNDERBIRD_BOTTOM = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head>
<body>
<div class="moz-cite-prefix">On 08/01/2024 10:02, Acme Support wrote:<br></div>
<blockquote type="cite" cite="mid:hl.12.abc@acme.test"><p>Try turning it off and on again.</p></blockquote>
<p>That worked, thanks.</p>
<pre class="moz-signature" cols="72">-- 
Erik Example</pre>
</body></html>
"""  # noqa: W291 (mail clients' markup, verbatim)

APPLE_MAIL = """<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body dir="auto"><div dir="ltr">Still broken, see the photo.</div><div dir="ltr"><br></div><div dir="ltr" id="AppleMailSignature">Sent from my iPhone</div><div dir="ltr"><br><blockquote type="cite">On 8 Jan 2024, at 10:02, Acme Support &lt;support@acme.test&gt; wrote:<br><br></blockquote></div><blockquote type="cite"><div dir="ltr">Try turning it off and on again.</div></blockquote></body></html>"""  # noqa: E501 (verbatim)

INLINE_ANSWERS = """<div>Answers below.</div>
<blockquote type="cite"><div>Is it plugged in?</div></blockquote>
<div>Yes, it is.</div>
<blockquote type="cite"><div>Is the light on?</div></blockquote>
<div>No, it is off.</div>
"""


def fold(html: str) -> tuple[str, str]:
    """(what shows, what is folded) of ``html`` folded and sanitized, as it would be stored."""
    safe = content.sanitize_html(quotes.fold_html(html))
    visible, sep, hidden = safe.partition(OPEN)
    assert sep, safe
    assert OPEN not in hidden, safe  # one fold for the trailing part
    return visible, hidden


def test_gmail_signature_and_quote_fold_together() -> None:
    visible, hidden = fold(GMAIL)
    assert "Thanks, that fixed it!" in visible
    assert "Carla Customer" not in visible and "Try turning it off" not in visible
    assert "-- " in hidden and "Carla Customer" in hidden and "Customer Corp" in hidden
    assert "wrote:" in hidden and "<blockquote>" in hidden and "Try turning it off" in hidden
    assert hidden.endswith("</details>")
    assert "gmail_quote" not in visible + hidden and "class=" not in visible + hidden  # markers gone


def test_outlook_on_the_web() -> None:
    visible, hidden = fold(OUTLOOK_WEB)
    assert "Hi, it still does not print." in visible
    assert "Dan Dobbs" not in visible and "From:" not in visible and "<hr>" not in visible
    assert "Dan Dobbs" in hidden and "<b>From:</b>" in hidden and "<b>Sent:</b>" in hidden
    assert "Try turning it off and on again." in hidden and "<hr>" in hidden


def test_outlook_desktop_header_block_in_german() -> None:
    visible, hidden = fold(OUTLOOK_DESKTOP)
    assert "Es brennt immer noch." in visible and "Dieter" in visible and "Grüße" in visible
    assert "Von:" not in visible and "einschalten" not in visible
    assert hidden.index("<b>Von:</b>") < hidden.index("Bitte aus- und wieder einschalten.")
    assert "<b>Gesendet:</b>" in hidden


def test_thunderbird_reply_above_the_quote() -> None:
    visible, hidden = fold(THUNDERBIRD)
    assert "Done, thanks. It prints again." in visible
    assert "Erik Example" not in visible and "wrote:" not in visible
    assert hidden.index("Erik Example") < hidden.index("wrote:") < hidden.index("Try turning it off")


def test_thunderbird_bottom_posting_folds_the_leading_quote_and_the_signature() -> None:
    safe = content.sanitize_html(quotes.fold_html(THUNDERBIRD_BOTTOM))
    first, _, rest = safe.partition(OPEN)
    assert not first.strip()  # the quote opens the message: folded where it stands
    lead, _, after = rest.partition("</details>")
    assert "wrote:" in lead and "Try turning it off" in lead
    own, _, sig = after.partition(OPEN)
    assert "That worked, thanks." in own and "Erik" not in own
    assert "-- " in sig and "Erik Example" in sig


def test_apple_mail_from_an_iphone() -> None:
    visible, hidden = fold(APPLE_MAIL)
    assert "Still broken, see the photo." in visible
    assert "Sent from my iPhone" not in visible and "wrote:" not in visible
    assert "Sent from my iPhone" in hidden and "wrote:" in hidden and "Try turning it off" in hidden
    assert hidden.count("<blockquote>") == 2


def test_inline_answers_keep_their_quotes() -> None:
    out = content.sanitize_html(quotes.fold_html(INLINE_ANSWERS))
    assert "<details>" not in out
    assert out.index("Is it plugged in?") < out.index("Yes, it is.") < out.index("Is the light on?")


def test_nothing_to_fold() -> None:
    for html in (
        "<p>Hello, my printer is on fire.</p>",
        "<p>Ranges like 3--5 and a -- in the middle of a line stay.</p>",
        '<blockquote type="cite">Only a quote: nothing of the sender to show instead.</blockquote>',
        "<div>Ends with an attribution of nothing. Bob wrote:</div>",
    ):
        assert "<details>" not in quotes.fold_html(html), html


def test_a_forwarded_message_is_the_content_and_stays_open() -> None:
    gmail_forward = (
        '<div dir="ltr">FYI, the invoice below is wrong.<br><br><div class="gmail_quote">'
        '<div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>From: <b>Billing</b>'
        "</div><div>Invoice 42: 1,000 EUR</div></div></div>"
    )
    apple_forward = (
        "<div>FYI</div><div><br><div>Begin forwarded message:</div><br>"
        '<blockquote type="cite"><div><b>From: </b>Billing</div><div>Invoice 42</div></blockquote></div>'
    )
    for html in (gmail_forward, apple_forward):
        assert "<details>" not in quotes.fold_html(html), html
    plain = (
        "FYI\n\n---------- Forwarded message ---------\nFrom: Billing <b@x.test>\nDate: Mon\n\nInvoice 42\n"
    )
    assert quotes.split_text(plain) == ("", plain, "")
    assert quotes.is_forward("Fwd: Invoice") and quotes.is_forward("I: Ordine")
    assert not quotes.is_forward("Re: Invoice") and not quotes.is_forward("Invoice: 42")


def test_a_signature_after_a_plain_html_delimiter() -> None:
    visible, hidden = fold("<p>Thanks<br>-- <br>Bob Builder<br>ACME Ltd</p>")
    assert "Thanks" in visible and "Bob" not in visible
    assert "-- <br>Bob Builder<br>ACME Ltd" in hidden


def test_the_fold_is_sanitized_like_everything_else() -> None:
    hostile = (
        '<p>Hi</p><div class="gmail_quote"><script>alert(1)</script>'
        '<img src="x" onerror="alert(2)"><a href="javascript:alert(3)">x</a>'
        '<details open ontoggle="alert(4)"><summary>own</summary>q</details></div>'
    )
    visible, hidden = fold(hostile)
    for bad in ("script", "onerror", "javascript:", "ontoggle", " open"):
        assert bad not in visible + hidden, bad


def test_pathological_nesting_is_left_unfolded() -> None:
    deep = "<p>Hi</p>" + "<div>" * (quotes.MAX_DEPTH + 10) + '<blockquote type="cite">q</blockquote>'
    assert "<details>" not in quotes.fold_html(deep)


def test_plain_text_gmail_reply_with_wrapped_attribution() -> None:
    text = (
        "Thanks, that worked.\n\nCarla\n\n"
        "On Mon, Jan 8, 2024 at 10:02 AM Acme Support <support@acme.test>\nwrote:\n\n"
        "> Try turning it off and on again.\n>\n> -- \n> Acme\n"
    )
    lead, own, tail = quotes.split_text(text)
    assert lead == "" and own.strip() == "Thanks, that worked.\n\nCarla"
    assert tail.startswith("On Mon, Jan 8, 2024") and "> Try turning it off" in tail
    html = quotes.text_to_html(text)
    visible, _, hidden = html.partition(OPEN)
    assert "Carla" in visible and "wrote:" not in visible and "&gt; Try turning it off" in hidden


def test_plain_text_signature_delimiter() -> None:
    lead, own, tail = quotes.split_text("Still broken.\n-- \nDan Dobbs\nBuyer, Customer Corp\n")
    assert (lead, own) == ("", "Still broken.") and tail.startswith("-- \nDan Dobbs")


def test_plain_text_outlook_original_message() -> None:
    text = (
        "Hi, still nothing.\n\n-----Original Message-----\nFrom: Acme Support <support@acme.test>\n"
        "Sent: Monday, January 8, 2024 10:02 AM\nTo: Dan\nSubject: Re: Printer\n\nTry it off and on.\n"
    )
    _, own, tail = quotes.split_text(text)
    assert own.strip() == "Hi, still nothing." and tail.startswith("-----Original Message-----")
    assert "Try it off and on." in tail


def test_plain_text_bottom_post_and_inline_answers() -> None:
    lead, own, tail = quotes.split_text("On 8 Jan, Bob wrote:\n> Try it off.\n\nThat worked.\n-- \nErik\n")
    assert lead == "On 8 Jan, Bob wrote:\n> Try it off.\n" and own == "That worked." and tail == "-- \nErik\n"
    inline = "> Is it plugged in?\nYes.\n\n> Is the light on?\nNo.\n"
    assert quotes.split_text(inline) == ("", inline, "")
    assert "<details>" not in quotes.text_to_html(inline)
    assert "<details>" not in quotes.text_to_html("> only a quote\n")


def _parsed(subject: str, text: str, html: str | None = None) -> object:
    msg = EmailMessage()
    msg["From"] = "Carla <carla@customer.test>"
    msg["To"] = "support@acme.test"
    msg["Subject"] = subject
    msg["Message-ID"] = "<q@customer.test>"
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return parse(msg.as_bytes(), Limits(max_bytes=10_000_000, max_parts=50))


def test_render_folds_html_blocks_images_and_keeps_the_whole_text() -> None:
    html = GMAIL.replace("Thanks, that fixed it!", 'Thanks! <img src="https://t.example/p.gif">')
    text, safe = render(_parsed("Re: Printer on fire", "Thanks!", html), [])  # type: ignore[arg-type]
    assert OPEN in safe and images.has_blocked(safe)
    assert ' src="https://t.example' not in safe and 'data-remote-src="https://t.example/p.gif"' in safe
    assert images.show(safe).count(' src="https://t.example/p.gif"') == 1
    assert text.strip() == "Thanks!"
    # Without a text part, the text is derived from the whole HTML, without the fold's label.
    only_html = EmailMessage()
    only_html["From"], only_html["To"], only_html["Subject"] = "c@customer.test", "s@acme.test", "Re: x"
    only_html.set_content(GMAIL, subtype="html")
    text, safe = render(parse(only_html.as_bytes(), Limits(max_bytes=10**7, max_parts=50)), [])
    assert "Try turning it off and on again." in text and "Show quoted text" not in text
    assert OPEN in safe


def test_render_folds_plain_text_but_not_a_forward() -> None:
    body = "See below.\n\nOn Mon, Bob wrote:\n> The invoice is wrong.\n"
    _, safe = render(_parsed("Re: Invoice", body), [])  # type: ignore[arg-type]
    assert OPEN in safe and safe.index("See below.") < safe.index(OPEN)
    for subject in ("Fwd: Invoice", "FW: Invoice", "WG: Rechnung"):
        _, safe = render(_parsed(subject, body), [])  # type: ignore[arg-type]
        assert "<details>" not in safe and "The invoice is wrong." in safe


def test_only_https_images_are_shown_on_request() -> None:
    stored = images.block(
        content.sanitize_html(
            '<img src="https://a.example/x.png"><img src="http://b.example/y.png">'
            '<img src="//c.example/z.png"><img src="/api/v1/email/inline/abc">'
        )
    )
    assert stored.count("data-remote-src=") == 3 and 'src="/api/v1/email/inline/abc"' in stored
    shown = images.show(stored)
    assert ' src="https://a.example/x.png"' in shown and ' src="https://c.example/z.png"' in shown
    assert ' src="http://b.example' not in shown and 'data-remote-src="http://b.example/y.png"' in shown
