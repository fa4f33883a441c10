"""The business dashboard at /dashboard: plain server-rendered pages behind the admin token."""
