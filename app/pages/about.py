"""How counts are protected (declared in app/explorer.py)."""

from app.views import about_page

about_page()
