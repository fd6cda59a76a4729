"""The HTTP layer every tracker client shares: the session and its adapter, the retry rule, the rate limiter."""
