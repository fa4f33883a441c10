"""Privacy: erasing a contact on request, and purging raw webhook bodies and message texts past their days."""
