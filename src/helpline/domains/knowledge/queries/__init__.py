"""Reads of the knowledge base. Customer-facing reads (help centre, portal, widget, bot) go through
:func:`customer_visible`: a translation's *published version* of a *public* article of the workspace;
nothing else (drafts, working copies, internal articles, other workspaces) can come out of them.
Staff reads (:func:`access_article`) see everything of their own workspace.

- ``_public``: customer-facing reads (``customer_visible``, the help centre's listings)
- ``_staff``: the console's reads (``access_article``, versions, files)
- ``_insights``: the insights page's figures, counted by the database
- ``_common``: table handles
"""

from helpline.domains.knowledge.queries._common import (
    articles,
    categories,
    feedback,
    files,
    translations,
    versions,
)
from helpline.domains.knowledge.queries._insights import (
    deflection_by_week,
    least_helpful,
    search_gaps,
    top_searches,
)
from helpline.domains.knowledge.queries._public import (
    category,
    category_by_slug,
    category_tree,
    customer_visible,
    popular,
    public_article,
    public_listing,
    public_locales,
    sitemap,
)
from helpline.domains.knowledge.queries._staff import (
    access_article,
    access_files,
    access_version,
    list_articles,
    public_file,
    require_staff,
    staff_file,
    version_list,
)

__all__ = [
    "access_article",
    "access_files",
    "access_version",
    "articles",
    "categories",
    "category",
    "category_by_slug",
    "category_tree",
    "customer_visible",
    "deflection_by_week",
    "feedback",
    "files",
    "least_helpful",
    "list_articles",
    "popular",
    "public_article",
    "public_file",
    "public_listing",
    "public_locales",
    "require_staff",
    "search_gaps",
    "sitemap",
    "staff_file",
    "top_searches",
    "translations",
    "version_list",
    "versions",
]
