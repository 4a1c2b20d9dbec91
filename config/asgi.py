"""ASGI entry point: `make run` serves this with uvicorn so chat replies can stream."""

import gc
import os
from importlib import import_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django's ASGI application, run on reused request threads (so database connections persist,
# CONN_MAX_AGE) with one thread hop for the middleware and the view: see apps/core/asgi.py.
from apps.core.asgi import get_asgi_application

# Each process also sweeps the chat replies whose writer died (marked interrupted, so Retry
# works), and on shutdown ends the turns it runs, each saved as interrupted.
application = get_asgi_application(
    background=["apps.llm_chat.live.sweep_forever"],
    on_shutdown=["apps.llm_chat.live.stop_all"],
)

# Many chats stream through this one event loop at once (bench/chat_latency.py: 20 chats, 40
# tokens a second each). Two things stalled every stream at once, so they are settled here:
# - the model SDKs are imported when a turn first needs them; on the event loop that import
#   stops everything for 100 ms or more, so import them now;
# - a full garbage collection of everything loaded (Django, pydantic schemas, the SDKs) took
#   150-200 ms. Freezing what startup loaded keeps it out of every collection, and a larger
#   first threshold makes collections of what the turns allocate rarer.
for module in (
    "apps.llm_chat.views",
    "pydantic_ai.models.openai",
    "pydantic_ai.providers.openai",
    "pydantic_ai.providers.openai_compatible",
    "pydantic_ai.models.anthropic",
    "pydantic_ai.providers.anthropic",
):
    import_module(module)
gc.collect()
gc.freeze()
gc.set_threshold(20_000, 20, 20)
