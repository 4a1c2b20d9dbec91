"""`user.has_perm("agents.use", agent)`: may this user start a chat with the agent."""

import rules


@rules.predicate
def agent_usable(user, agent) -> bool:
    return agent is not None and agent.is_usable_by(user)


rules.add_perm("agents.use", agent_usable)
