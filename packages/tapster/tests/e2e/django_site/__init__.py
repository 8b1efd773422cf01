"""A minimal Django project served through tapster's WSGI adapter (test_wsgi_django.py)."""
