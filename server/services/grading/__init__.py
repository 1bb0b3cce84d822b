"""Annual grading of 书记项目; the module moved to grading/panels.py and is split next."""

from server.services.grading.panels import *  # noqa: F403 - every public name, until the split
