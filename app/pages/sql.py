"""The SQL tab (declared in app/explorer.py)."""

from app.views import sql_page

sql_page()
