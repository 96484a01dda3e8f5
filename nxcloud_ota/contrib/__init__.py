"""Optional integrations built on the client, each in its own module.

Import a module by its full name (for example :mod:`nxcloud_ota.contrib.web`).
Nothing is imported here, so an integration's extra dependencies are needed only
by the code that uses it.
"""
