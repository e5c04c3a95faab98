"""An admin of another workspace adds a person who already has an account: the person gets an
invitation by mail, accepts it signed in as themselves, and the audit log shows each step."""

from __future__ import annotations

from helpline.domains.accounts.models import Role


def test_an_existing_account_is_invited_accepts_and_the_audit_log_shows_it(site, new_page):
    person = site.person(Role.agent, name="Ines Invited")  # a member of the default workspace
    other_ws, _ = site.workspace("Second Desk")
    admin = site.person(Role.admin, name="Otto Other", workspace_id=other_ws)

    tab = new_page()
    tab.sign_in(admin)
    p = tab.page
    tab.go("/admin/users")
    p.locator("#f-email").fill(person.email)
    p.locator("#f-role").select_option("agent")
    p.locator("#f-password").fill("an attacker's choice")
    p.get_by_role("button", name="Add").click()
    assert "emailed an invitation" in p.get_by_role("status").inner_text()
    assert p.get_by_role("heading", name="Invited, not yet joined").is_visible()
    assert p.get_by_role("button", name=f"Withdraw the invitation of {person.email}").is_visible()
    tab.check("admin-invited")

    link = site.mail.link(site.mail.wait_for(person.email, "invited"))
    guest = new_page()
    guest.page.goto(link)
    g = guest.page
    assert g.get_by_role("heading", name="Join Second Desk").is_visible()
    guest.check("invitation")
    g.get_by_label("Your password").fill("not my password")
    g.get_by_role("button", name="Accept and sign in").click()
    assert "wrong password" in g.locator("body").inner_text()
    g.get_by_label("Your password").fill(person.password)  # the password they chose, not the admin's
    g.get_by_role("button", name="Accept and sign in").click()
    g.wait_for_url("**/inbox**")

    tab.go("/admin/audit")
    body = p.locator("main").inner_text()
    assert "accepted an invitation" in body and "invited a person" in body
    tab.check("admin-audit")
    p.locator("#f-action").select_option("member.invited")
    p.get_by_role("button", name="Filter").click()
    assert "accepted an invitation" not in p.locator("table").inner_text()
