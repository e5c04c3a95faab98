"""Single sign-on: OpenID Connect (authorization code + PKCE) and SAML 2.0 identity providers of a
workspace, just-in-time membership and group mapping, and "agents sign in with SSO only".

- ``providers``: admins' configuration (checks, writes) and the require-SSO switch; ``queries``: the
  reads (admins' ``access_provider``, the provider of a sign-in URL, the buttons, the shown shape).
- ``service``: who an assertion signs in (linking, JIT, groups) and :func:`service.password_allowed`.
- ``flows``: the sign-in in progress, kept server-side, single use, bound to the browser.
- ``oidc``, ``saml``: the two protocols (every request to a provider goes through ``oidc._idp_client``).
- ``views`` (sign-in routes, buttons), ``admin_views`` (``/admin/sso``), ``api`` (``/api/v1/sso-providers``).

See docs/sso.md and docs/adr/0013-single-sign-on.md.
"""
