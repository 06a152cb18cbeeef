"""
ASGI config for imdbrec project.

It exposes the ASGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/asgi/
"""

import os

from django.core.asgi import get_asgi_application

# A server process is a deployment unless told otherwise: production settings (DEBUG off, a
# required SECRET_KEY, HTTPS). `make serve` exports imdbrec.settings.dev for the local demo.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imdbrec.settings.production")

application = get_asgi_application()
