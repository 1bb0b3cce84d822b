"""Helpers shared by the browser tests."""

from __future__ import annotations


def login(page, base_url: str, username: str, password: str) -> None:
    """Fill in and submit the console's login form; wait until we are past it."""
    page.goto(f"{base_url}/console/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/console/login" not in url)
