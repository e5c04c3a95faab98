"""Signing in to the console: password, two-factor code, throttled failures, resets by email, sign out."""

from __future__ import annotations

from helpline.domains.accounts.models import Role


def test_agent_signs_in_with_two_factor_and_pages_pass_axe(site, new_page):
    agent = site.person(Role.agent, two_factor=True, name="Dana Agent")
    tab = new_page()
    tab.go("/login")
    tab.check("login")
    tab.page.get_by_label("Email").fill(agent.email)
    tab.page.get_by_label("Password").fill(agent.password)
    tab.page.get_by_role("button", name="Sign in", exact=True).click()
    # The password alone is not enough: the second step asks for the code.
    code = tab.page.get_by_label("Authentication code")
    code.fill("000000")
    tab.page.get_by_role("button", name="Verify").click()
    assert tab.page.get_by_text("wrong two-factor code").is_visible()
    tab.page.get_by_label("Authentication code").fill(agent.otp())
    tab.page.get_by_role("button", name="Verify").click()
    tab.page.wait_for_url("**/inbox**")
    tab.go("/profile")
    assert tab.page.get_by_text("On.").is_visible()
    tab.check("profile")


def test_wrong_password_is_refused_and_login_keeps_no_open_redirect(site, new_page):
    agent = site.person(Role.agent)
    tab = new_page()
    tab.go("/login?next=//evil.example/steal")
    tab.page.get_by_label("Email").fill(agent.email)
    tab.page.get_by_label("Password").fill("not the password")
    tab.page.get_by_role("button", name="Sign in", exact=True).click()
    assert tab.page.get_by_role("alert").inner_text() == "wrong email or password"
    tab.page.get_by_label("Email").fill(agent.email)
    tab.page.get_by_label("Password").fill(agent.password)
    tab.page.get_by_role("button", name="Sign in", exact=True).click()
    tab.page.wait_for_load_state()
    assert tab.page.url.startswith(site.url + "/"), tab.page.url


def test_password_reset_by_emailed_link_works_once(site, new_page):
    agent = site.person(Role.agent)
    tab = new_page()
    tab.go("/password/forgot")
    tab.check("password-forgot")
    tab.page.get_by_label("Email").fill(agent.email)
    tab.page.get_by_role("button", name="Send the link").click()
    assert tab.page.get_by_role("status").is_visible()
    link = site.mail.link(site.mail.wait_for(agent.email, "Reset your password"))
    assert link.startswith(site.url + "/password/reset?token=")
    tab.page.goto(link)
    tab.page.get_by_label("New password").fill("a brand new password")
    tab.page.get_by_role("button", name="Save the password").click()
    assert tab.page.get_by_text("Your password is changed").is_visible()
    # The same link again: used.
    tab.page.goto(link)
    assert tab.page.get_by_text("expired or was used already").is_visible()
    agent.password = "a brand new password"
    tab.sign_in(agent)
    assert "/inbox" in tab.page.url


def test_sign_out_everywhere_ends_other_sessions(site, new_page):
    agent = site.person(Role.agent)
    first, second = new_page(), new_page()
    first.sign_in(agent)
    second.sign_in(agent)
    second.go("/profile")
    second.page.get_by_role("button", name="Sign out everywhere").click()
    second.page.wait_for_url("**/login**")
    first.go("/profile")
    assert "/login" in first.page.url
