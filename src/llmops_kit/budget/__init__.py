"""Token and cost budgets: policy, ledgers (memory, SQLite, Redis) and the reserve/settle manager."""
