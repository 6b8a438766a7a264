"""Make Ryu 4.34 start on Python 3.11 with eventlet >= 0.30.3.

``ryu/app/wsgi.py`` imports ``eventlet.wsgi.ALREADY_HANDLED`` at class-definition
time, and ``ryu-manager`` imports that module before any application, so the
name must exist before Ryu is imported at all.  The virtualenv's
``ryu_compat.pth`` imports this module at interpreter start.  Ryu uses the
sentinel only for its websocket support, which this project does not use.
"""
import eventlet.wsgi

if not hasattr(eventlet.wsgi, "ALREADY_HANDLED"):
    eventlet.wsgi.ALREADY_HANDLED = object()
