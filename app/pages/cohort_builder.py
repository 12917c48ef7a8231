"""The cohort builder page (declared in app/explorer.py)."""

from app.views import cohort_page

cohort_page()
