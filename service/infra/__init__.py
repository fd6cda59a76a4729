"""Infrastructure: logs, counters, the queue, the Redis breaker, and the runtime a process builds once."""
