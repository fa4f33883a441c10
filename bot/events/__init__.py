"""Events out: the business's subscribed URLs told what happened, signed, at least once and in order per contact."""
