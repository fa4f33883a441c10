"""Privacy: erasing a contact on request, and purging raw webhook bodies, message texts and media files past their days."""
