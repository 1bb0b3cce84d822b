"""Domain rules, queries and transactions; handlers call one function here per request."""
