"""The knowledge base's tables, as every read names them."""

from __future__ import annotations

from helpline.domains.knowledge.models import Article, Category, Feedback, KbFile, Translation, Version

articles = Article.__table__
translations = Translation.__table__
versions = Version.__table__
categories = Category.__table__
files = KbFile.__table__
feedback = Feedback.__table__
