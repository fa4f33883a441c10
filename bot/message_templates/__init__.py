"""Message templates: the business's template files read, checked, rendered and exported."""
