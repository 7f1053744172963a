"""The app's pages (explore.py, compare.py, train.py, gpu.py) and the small UI helpers they share.

app.py routes to the page files with ``st.navigation``; the modules that are not pages
(i18n, state, views, charts) are imported by them as ``pages.<name>``.
"""
