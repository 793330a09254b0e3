"""The PostgreSQL journal and the Celery cluster (real PostgreSQL and Redis servers)."""
