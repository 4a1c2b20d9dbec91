"""`user.has_perm("datasources.use", "marketplace")`: may this user use the named source."""

import rules

from apps.datasources.access import may_use_source


@rules.predicate
def source_usable(user, source) -> bool:
    return isinstance(source, str) and may_use_source(user, source)


rules.add_perm("datasources.use", source_usable)
