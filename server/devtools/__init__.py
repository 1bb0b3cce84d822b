"""Development-only tools: the fake WeChat server the demo and the tests talk to.

Nothing in the running service imports this package; `scripts/run_demo.sh` starts the fake as a
process of its own, and it refuses to run under APP_ENV=production.
"""
