"""The demo's objects in the app database: a user, an agent, chats and their artifacts.

`seed_app_demo()` creates them idempotently (natural keys: the username, the agent's name, the
chat titles and artifact titles of the demo user), so `make run` can call it every time and
what a person changed in the demo stays changed. Every demo SQL runs unchanged on the SQLite
demo database and on PostgreSQL: ANSI joins, CTEs, window functions and ISO-date comparisons,
no engine-specific functions.
"""

# ruff: noqa: RUF001 (the Russian demo chat is Russian text: its Cyrillic letters are meant)

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_noop

from apps.accounts.models import Profile
from apps.datasources.demo import ORDER_STATUSES
from apps.datasources.executor import QueryFailed, execute
from apps.llm_agent.models import Agent
from apps.llm_artifact.models import Artifact
from apps.llm_artifact.parameters import resolve_values
from apps.llm_artifact.services import use_template
from apps.llm_chat.models import Chat, Message

DEMO_USERNAME = "demo"
# The Russian demo user: same password, Russian pages, one Russian chat.
DEMO_RU_USERNAME = "demo_ru"
DEMO_AGENT_NAME = "Marketplace analyst"
DEMO_DATA_SOURCE = "marketplace"
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"

SYSTEM_PROMPT = """\
You are a data analyst for an online marketplace. You answer questions by writing SQL against \
the marketplace database and you save the queries worth keeping as artifacts.

The database is read-only and has these tables:
- categories(id, name, parent_id): a two-level tree. Top-level categories have parent_id NULL; \
products belong to the second-level categories.
- sellers(id, name, country, rating, joined_at)
- products(id, seller_id -> sellers.id, category_id -> categories.id, sku, name, price, \
created_at, is_active)
- customers(id, name, email, city, country, signed_up_at)
- orders(id, customer_id -> customers.id, status, ordered_at, total). status is one of new, \
paid, shipped, delivered, cancelled, returned. total equals the sum of its items' \
quantity * unit_price.
- order_items(id, order_id -> orders.id, product_id -> products.id, quantity, unit_price)
- reviews(id, product_id -> products.id, customer_id -> customers.id, rating 1 to 5, body, \
created_at)
Timestamps are UTC. The data covers the last two years.

How to work:
1. When unsure of a table or column, look with list_tables and describe_table.
2. Try your SQL with run_sql and correct it until it runs before you answer.
3. Revenue is SUM(order_items.quantity * order_items.unit_price) over orders whose status is \
paid, shipped or delivered, unless the user asks otherwise.
4. Write portable SQL: ANSI joins, CASE, CTEs and window functions are fine; compare dates as \
ISO strings such as '2025-01-31'; use date(ordered_at) for the day; avoid engine-specific \
functions.
5. Save the query you settle on with save_artifact: a short title, a description of the question \
it answers, and parameters for the values a user may want to change (start and end dates, \
thresholds, a status), each declared with a type (date, datetime, number, integer, string, \
boolean) and a default, and written in the SQL as :name. Never paste such values into the SQL. \
When a chart helps, add a Vega-Lite specification with "data": {"name": "results"} whose fields \
are the query's column names.
6. When the user refines a query, update its artifact rather than saving a new one.
7. Answer briefly in Markdown: the finding first, then what the artifact does. Never state a \
number you did not get from run_sql.
"""


def demo_password() -> str:
    return settings.DEMO_PASSWORD


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def last_month(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar month before `as_of`'s month, as [start, end)."""
    end = _month_start(as_of)
    return _month_start(end - dt.timedelta(days=1)), end


def _month_before_last(as_of: dt.date) -> dict:
    """The dates of the month before last month, as the revenue card's parameter values."""
    start, end = last_month(last_month(as_of)[0])
    return {"start_date": start.isoformat(), "end_date": end.isoformat()}


def _date_param(name: str, label: str, default: str, required: bool = True) -> dict:
    """A date parameter whose default is a relative date ("start_of_month -1 month"): it
    means the same period on whichever day the artifact runs."""
    return {
        "name": name,
        "type": "date",
        "label": label,
        "default": default,
        "required": required,
    }


# Last month as [start, end), the way people say it; last_month() computes the same dates.
LAST_MONTH = ("start_of_month -1 month", "start_of_month")


def _bar_chart(x: str, y: str, *, horizontal: bool = False, title: str = "") -> dict:
    value = {"field": y, "type": "quantitative"}
    category = {"field": x, "type": "nominal", "sort": "-x" if horizontal else "-y"}
    encoding = {"y": category, "x": value} if horizontal else {"x": category, "y": value}
    encoding["tooltip"] = [{"field": x, "type": "nominal"}, value]
    spec = {
        "$schema": VEGA_LITE_SCHEMA,
        "data": {"name": "results"},
        "mark": "bar",
        "encoding": encoding,
    }
    if title:
        spec["title"] = title
    return spec


@dataclass(frozen=True)
class DemoArtifact:
    title: str
    description: str
    sql: str
    # Parameter declarations; date defaults are relative, so they follow the calendar.
    params: list[dict] = field(default_factory=list)
    visualization: dict = field(default_factory=dict)


ARTIFACTS: dict[str, DemoArtifact] = {
    "revenue_by_category": DemoArtifact(
        title="Revenue by category, last month",
        description=(
            "Revenue, orders and units per top-level category between two dates. Revenue "
            "counts paid, shipped and delivered orders; subcategories roll up to their parent."
        ),
        sql="""\
SELECT
    COALESCE(parent.name, c.name) AS category,
    COUNT(DISTINCT o.id) AS orders,
    SUM(oi.quantity) AS units,
    ROUND(SUM(oi.quantity * oi.unit_price), 2) AS revenue
FROM orders AS o
JOIN order_items AS oi ON oi.order_id = o.id
JOIN products AS p ON p.id = oi.product_id
JOIN categories AS c ON c.id = p.category_id
LEFT JOIN categories AS parent ON parent.id = c.parent_id
WHERE o.status IN ('paid', 'shipped', 'delivered')
  AND o.ordered_at >= :start_date
  AND o.ordered_at < :end_date
GROUP BY COALESCE(parent.name, c.name)
ORDER BY revenue DESC""",
        params=[
            _date_param("start_date", "From", LAST_MONTH[0]),
            _date_param("end_date", "Before", LAST_MONTH[1]),
        ],
        visualization=_bar_chart("category", "revenue", title="Revenue by category"),
    ),
    "top_sellers_by_rating": DemoArtifact(
        title="Top sellers by review rating",
        description=(
            "Sellers ranked by the average rating of reviews on their products, with a minimum "
            "number of reviews so that a single five-star review does not top the list."
        ),
        sql="""\
SELECT
    s.name AS seller,
    s.country,
    COUNT(r.id) AS reviews,
    ROUND(AVG(r.rating), 2) AS avg_rating
FROM sellers AS s
JOIN products AS p ON p.seller_id = s.id
JOIN reviews AS r ON r.product_id = p.id
GROUP BY s.id, s.name, s.country
HAVING COUNT(r.id) >= :min_reviews
   AND AVG(r.rating) >= :min_rating
ORDER BY avg_rating DESC, reviews DESC, seller
LIMIT 15""",
        params=[
            {
                "name": "min_rating",
                "type": "number",
                "label": "Minimum average rating",
                "default": 4.0,
                "required": True,
            },
            {
                "name": "min_reviews",
                "type": "integer",
                "label": "Minimum number of reviews",
                "default": 10,
                "required": True,
            },
        ],
        visualization=_bar_chart("seller", "avg_rating", horizontal=True),
    ),
    "orders_by_status": DemoArtifact(
        title="Orders by status",
        description="How many orders are in each status, with their value, since a given day.",
        sql="""\
SELECT
    status,
    COUNT(*) AS orders,
    ROUND(SUM(total), 2) AS order_value,
    ROUND(AVG(total), 2) AS avg_order_value
FROM orders
WHERE ordered_at >= :since
GROUP BY status
ORDER BY orders DESC""",
        params=[
            _date_param("since", "Ordered since", "-90 days"),
        ],
        visualization={
            "$schema": VEGA_LITE_SCHEMA,
            "data": {"name": "results"},
            "mark": {"type": "arc", "innerRadius": 50},
            "encoding": {
                "theta": {"field": "orders", "type": "quantitative"},
                "color": {"field": "status", "type": "nominal"},
                "tooltip": [
                    {"field": "status", "type": "nominal"},
                    {"field": "orders", "type": "quantitative"},
                    {"field": "order_value", "type": "quantitative"},
                ],
            },
        },
    ),
    "daily_order_trend": DemoArtifact(
        title="Daily orders with a 7-day moving average",
        description=(
            "Orders and revenue per day (cancelled orders excluded) with a 7-day moving average "
            "of revenue, computed with a window function."
        ),
        sql="""\
WITH daily AS (
    SELECT
        date(ordered_at) AS day,
        COUNT(*) AS orders,
        SUM(total) AS revenue
    FROM orders
    WHERE status <> 'cancelled'
      AND ordered_at >= :start_date
    GROUP BY date(ordered_at)
)
SELECT
    day,
    orders,
    ROUND(revenue, 2) AS revenue,
    ROUND(AVG(revenue) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW), 2)
        AS revenue_7d_avg
FROM daily
ORDER BY day""",
        params=[
            _date_param("start_date", "From", "-90 days"),
        ],
        visualization={
            "$schema": VEGA_LITE_SCHEMA,
            "data": {"name": "results"},
            "mark": {"type": "line", "point": False},
            "encoding": {
                "x": {"field": "day", "type": "temporal"},
                "y": {"field": "revenue_7d_avg", "type": "quantitative"},
                "tooltip": [
                    {"field": "day", "type": "temporal"},
                    {"field": "orders", "type": "quantitative"},
                    {"field": "revenue", "type": "quantitative"},
                    {"field": "revenue_7d_avg", "type": "quantitative"},
                ],
            },
        },
    ),
    "orders_with_status": DemoArtifact(
        title="Latest orders with a given status",
        description="The 100 most recent orders in one status, with the customer and total.",
        sql="""\
SELECT
    o.id AS order_id,
    o.ordered_at,
    c.name AS customer,
    c.country,
    o.total
FROM orders AS o
JOIN customers AS c ON c.id = o.customer_id
WHERE o.status = :status
  AND o.ordered_at >= :since
ORDER BY o.ordered_at DESC, o.id DESC
LIMIT 100""",
        params=[
            {
                "name": "status",
                "type": "string",
                "label": "Status",
                "default": "returned",
                "required": True,
                "choices": list(ORDER_STATUSES),
            },
            _date_param("since", "Ordered since", LAST_MONTH[0]),
        ],
    ),
    "repeat_customer_rate": DemoArtifact(
        title="Repeat-customer rate",
        description=(
            "Share of customers with more than one kept order (not cancelled or returned) "
            "since a given day."
        ),
        sql="""\
WITH customer_orders AS (
    SELECT customer_id, COUNT(*) AS order_count
    FROM orders
    WHERE status NOT IN ('cancelled', 'returned')
      AND ordered_at >= :start_date
    GROUP BY customer_id
)
SELECT
    COUNT(*) AS customers,
    SUM(CASE WHEN order_count > 1 THEN 1 ELSE 0 END) AS repeat_customers,
    ROUND(100.0 * SUM(CASE WHEN order_count > 1 THEN 1 ELSE 0 END) / NULLIF(COUNT(*), 0), 1)
        AS repeat_rate_pct
FROM customer_orders""",
        params=[
            _date_param("start_date", "Since", "-365 days"),
        ],
    ),
    "revenue_by_country": DemoArtifact(
        title="Revenue by customer country",
        description="Kept revenue and average order value per customer country between two dates.",
        sql="""\
SELECT
    c.country,
    COUNT(*) AS orders,
    ROUND(SUM(o.total), 2) AS revenue,
    ROUND(AVG(o.total), 2) AS avg_order_value
FROM orders AS o
JOIN customers AS c ON c.id = o.customer_id
WHERE o.status IN ('paid', 'shipped', 'delivered')
  AND o.ordered_at >= :start_date
  AND o.ordered_at < :end_date
GROUP BY c.country
ORDER BY revenue DESC""",
        params=[
            _date_param("start_date", "From", "start_of_year"),
            _date_param("end_date", "Before", "today +1 day"),
        ],
        visualization=_bar_chart("country", "revenue", horizontal=True),
    ),
}


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    artifact: str | None = None
    action: str | None = None
    # The parameter values the turn used the artifact with: its card shows them. A callable
    # takes the day the demo is built, for dates relative to it.
    params: dict | Callable[[dt.date], dict] | None = None

    def params_on(self, as_of: dt.date) -> dict | None:
        return self.params(as_of) if callable(self.params) else self.params


def _user(content: str) -> Turn:
    return Turn(Message.Role.USER, content)


def _assistant(
    content: str,
    artifact: str | None = None,
    action: str | None = None,
    params: dict | Callable[[dt.date], dict] | None = None,
) -> Turn:
    return Turn(Message.Role.ASSISTANT, content, artifact, action, params)


CREATED = Message.ArtifactAction.CREATED
UPDATED = Message.ArtifactAction.UPDATED
REFERENCED = Message.ArtifactAction.REFERENCED

# Chat title -> turns, oldest chat first. An artifact is created in exactly one chat (its
# home), then updated or referenced there or elsewhere.
CHATS: dict[str, tuple[Turn, ...]] = {
    "Revenue by category last month": (
        _user("What were the top categories by revenue last month?"),
        _assistant(
            "I summed `quantity * unit_price` of the items in last month's paid, shipped and "
            "delivered orders, grouped by top-level category (subcategories roll up through "
            "`categories.parent_id`). I saved it as **Revenue by category, last month** with the "
            "month as the `start_date` and `end_date` parameters, so it works for any period.",
            "revenue_by_category",
            CREATED,
        ),
        _user("Can you add the number of orders and units sold, and show it as a chart?"),
        _assistant(
            "Updated the artifact: it now also counts distinct orders and units per category, "
            "and a bar chart sorts the categories by revenue.",
            "revenue_by_category",
            UPDATED,
        ),
        _user("And the month before?"),
        _assistant(
            "Run **Revenue by category, last month** with `start_date` and `end_date` one month "
            "earlier: the dates are parameters, so no new query is needed.",
            "revenue_by_category",
            REFERENCED,
            _month_before_last,
        ),
    ),
    "Best rated sellers": (
        _user("Which sellers get the best reviews?"),
        _assistant(
            "I averaged the review ratings of each seller's products and ranked the sellers. "
            "Saved as **Top sellers by review rating**; `min_rating` filters the list.",
            "top_sellers_by_rating",
            CREATED,
        ),
        _user("A seller with one five-star review shouldn't win. Require some reviews."),
        _assistant(
            "Added a `min_reviews` parameter (default 10) to the artifact: sellers need at least "
            "that many reviews to be ranked.",
            "top_sellers_by_rating",
            UPDATED,
        ),
    ),
    "Order pipeline": (
        _user("How are orders split by status over the last 90 days?"),
        _assistant(
            "Counted orders and their value per status since `since` (90 days back by default). "
            "Saved as **Orders by status** with a donut chart.",
            "orders_by_status",
            CREATED,
        ),
        _user("Show me the daily order trend with a weekly moving average."),
        _assistant(
            "Saved **Daily orders with a 7-day moving average**: a CTE counts orders and revenue "
            "per day and a window function averages revenue over the last seven days.",
            "daily_order_trend",
            CREATED,
        ),
        _user("List the returned orders since the start of last month."),
        _assistant(
            "Saved **Latest orders with a given status**: the 100 most recent orders with the "
            "`status` you choose (default `returned`) since the `since` date.",
            "orders_with_status",
            CREATED,
        ),
        _user("And the cancelled ones?"),
        _assistant(
            "The same query with `status` set to `cancelled`: run the card below.",
            "orders_with_status",
            REFERENCED,
            {"status": "cancelled"},
        ),
    ),
    "Customer loyalty": (
        _user("What share of customers ordered more than once in the last year?"),
        _assistant(
            "A CTE counts each customer's kept orders (not cancelled or returned) since "
            "`start_date`; the outer query gives the share with more than one. Saved as "
            "**Repeat-customer rate**.",
            "repeat_customer_rate",
            CREATED,
        ),
        _user("Where do our customers' orders come from this year?"),
        _assistant(
            "Saved **Revenue by customer country**: revenue, orders and average order value per "
            "country since the start of the year.",
            "revenue_by_country",
            CREATED,
        ),
        _user("Which categories drive revenue?"),
        _assistant(
            "**Revenue by category, last month** answers that: widen `start_date` and `end_date` "
            "to the period you want.",
            "revenue_by_category",
            REFERENCED,
        ),
    ),
}


@dataclass
class SeedSummary:
    user_created: bool = False
    agent_created: bool = False
    chats_created: list[str] = field(default_factory=list)
    artifacts_created: list[str] = field(default_factory=list)


def ensure_demo_user() -> tuple[AbstractBaseUser, bool]:
    """The demo user, a superuser so the admin opens too; its password is DEMO_PASSWORD.

    The password is reset when it differs, so the credentials `make run` prints always work.
    """
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=DEMO_USERNAME,
        defaults={"email": "demo@example.com", "is_staff": True, "is_superuser": True},
    )
    password = demo_password()
    if created or not user.check_password(password) or not user.is_staff:
        user.set_password(password)
        user.is_staff = user.is_superuser = user.is_active = True
        user.save()
    return user, created


# Marked for translation: the new-chat page translates an agent's example questions that
# the catalogue knows, so the demo's read in Russian there (django.po has their Russian).
DEMO_EXAMPLE_QUESTIONS = "\n".join(
    [
        gettext_noop("Which product categories earned the most revenue last month?"),
        gettext_noop("How many orders were cancelled each month this year?"),
        gettext_noop("Who are the ten sellers with the best average review score?"),
        gettext_noop("What share of customers ordered more than once?"),
    ]
)


def ensure_demo_agent() -> tuple[Agent, bool]:
    """The demo agent; it follows LLM_BASE_URL and LLM_MODEL each time the demo is seeded."""
    agent = Agent.objects.filter(name=DEMO_AGENT_NAME).first()
    created = agent is None
    if created:
        agent = Agent(
            name=DEMO_AGENT_NAME,
            description=(
                "Answers questions about the demo marketplace (orders, products, sellers, "
                "customers, reviews) and saves its SQL as artifacts."
            ),
            provider=Agent.Provider.OPENAI_COMPATIBLE,
            system_prompt=SYSTEM_PROMPT,
            temperature=Decimal("0.10"),
            max_output_tokens=2048,
            data_source=DEMO_DATA_SOURCE,
            example_questions=DEMO_EXAMPLE_QUESTIONS,
        )
    elif (agent.base_url, agent.model_name) == (settings.LLM_BASE_URL, settings.LLM_MODEL):
        return agent, False
    agent.base_url = settings.LLM_BASE_URL
    agent.model_name = settings.LLM_MODEL
    agent.full_clean()
    agent.save()
    return agent, created


def _last_changes() -> set[tuple[str, int]]:
    """(chat title, turn index) of each artifact's last created/updated turn in a chat.

    That message shows the artifact's first rows: the artifact's SQL is its final version,
    so earlier turns, which describe earlier versions, must not show its results.
    """
    last: dict[tuple[str, str], int] = {}
    for title, turns in CHATS.items():
        for index, turn in enumerate(turns):
            if turn.action in (CREATED, UPDATED):
                last[(title, turn.artifact)] = index
    return {(title, index) for (title, _key), index in last.items()}


def _format_value(value: object, language: str = "en") -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int | float) and language != "en":
        # The reply's language's separators: 2 710,08 in Russian.
        with translation.override(language):
            places = 2 if isinstance(value, float) else None
            return number_format(value, decimal_pos=places, force_grouping=True)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value).replace("|", "\\|")


def results_preview(artifact: Artifact, *, rows: int = 5, language: str = "en") -> str:
    """The artifact's first rows with its default parameters, as a Markdown table.

    Runs through the read-only executor, like any other run. Empty when the query fails
    (for example when the data source is unreachable): a demo reply then says what the
    artifact does without quoting figures.
    """
    try:
        result = execute(
            artifact.data_source,
            artifact.sql_query,
            resolve_values(artifact.query_params, {}, data_source=artifact.data_source),
            max_rows=rows,
        )
    except QueryFailed:
        return ""
    if not result.rows:
        return ""
    header = [column.name for column in result.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(_format_value(v, language) for v in row) + " |" for row in result.rows),
    ]
    with translation.override(language):
        intro = (
            gettext("First rows with the default parameters:")
            if result.truncated
            else gettext("Results with the default parameters:")
        )
    return f"{intro}\n\n" + "\n".join(lines)


def _home_chats() -> dict[str, str]:
    """Artifact key -> title of the chat whose message created it."""
    homes: dict[str, str] = {}
    for title, turns in CHATS.items():
        for turn in turns:
            if turn.action == CREATED:
                homes[turn.artifact] = title
    return homes


@transaction.atomic
def seed_app_demo(*, as_of: dt.date) -> SeedSummary:
    """Create what is missing of the demo user, agent, chats and artifacts.

    `as_of` is the day the demo dataset ends: the values a chat's reply quotes (the month
    before last) count back from it. The artifacts' date defaults are relative dates
    (`start_of_month -1 month`), evaluated whenever they run.
    A chat that already exists is left as it is, messages and all.
    """
    summary = SeedSummary()
    user, summary.user_created = ensure_demo_user()
    agent, summary.agent_created = ensure_demo_agent()

    chats: dict[str, Chat] = {}
    new_chats: list[str] = []
    for title in CHATS:
        chat = Chat.objects.filter(owner=user, title=title).first()
        if chat is None:
            chat = Chat(title=title, agent=agent, owner=user)
            chat.full_clean()
            chat.save()
            new_chats.append(title)
        chats[title] = chat

    homes = _home_chats()
    previews = _last_changes()
    artifacts: dict[str, Artifact] = {}
    # Spread the conversations over the last days so lists look lived in.
    now = timezone.now()
    for chat_index, title in enumerate(new_chats):
        chat = chats[title]
        moment = now - dt.timedelta(days=len(new_chats) - chat_index, hours=3)
        for turn_index, turn in enumerate(CHATS[title]):
            moment += dt.timedelta(minutes=2 if turn.role == Message.Role.USER else 1)
            artifact = None
            if turn.artifact:
                artifact = artifacts.get(turn.artifact)
                if artifact is None:
                    artifact, created = _ensure_artifact(
                        turn.artifact,
                        user=user,
                        agent=agent,
                        chat=chats[homes[turn.artifact]],
                    )
                    if created:
                        summary.artifacts_created.append(artifact.title)
                        Artifact.objects.filter(pk=artifact.pk).update(
                            created_at=moment, updated_at=moment
                        )
                    artifacts[turn.artifact] = artifact
                if turn.action == UPDATED:
                    Artifact.objects.filter(pk=artifact.pk).update(updated_at=moment)
            content = turn.content
            if artifact is not None and (title, turn_index) in previews:
                preview = results_preview(artifact)
                content = f"{content}\n\n{preview}" if preview else content
            message = Message(
                chat=chat,
                role=turn.role,
                content=content,
                status=Message.Status.COMPLETE,
                artifact=artifact,
                artifact_action=turn.action,
            )
            message.full_clean()
            message.save()
            if artifact is not None:
                message.link_artifact(artifact, turn.action, params=turn.params_on(as_of))
            Message.objects.filter(pk=message.pk).update(created_at=moment)
        Chat.objects.filter(pk=chat.pk).update(
            created_at=moment - dt.timedelta(minutes=20), updated_at=moment
        )
        summary.chats_created.append(title)
    summary.artifacts_created += seed_template_examples(user)
    ru_created, ru_chat = seed_ru_demo(agent, as_of=as_of)
    summary.user_created = summary.user_created or ru_created
    if ru_chat:
        summary.chats_created.append(RU_CHAT_TITLE)
        summary.artifacts_created.append(RU_ARTIFACT.title)
    return summary


def ensure_demo_ru_user() -> tuple[AbstractBaseUser, bool]:
    """The Russian demo user (not staff: it sees its own and shared objects), password
    DEMO_PASSWORD like `demo`'s, its profile's language Russian."""
    user, created = get_user_model().objects.get_or_create(
        username=DEMO_RU_USERNAME, defaults={"email": "demo_ru@example.com"}
    )
    password = demo_password()
    if created or not user.check_password(password) or not user.is_active:
        user.set_password(password)
        user.is_active = True
        user.save()
    Profile.objects.update_or_create(user=user, defaults={"language": "ru"})
    return user, created


RU_CHAT_TITLE = "Выручка по категориям за прошлый месяц"
RU_ARTIFACT = DemoArtifact(
    title="Выручка по категориям за прошлый месяц",
    description=(
        "Выручка, заказы и проданные единицы по категориям верхнего уровня между двумя датами. "
        "Учитываются оплаченные, отправленные и доставленные заказы; подкатегории входят в "
        "родительскую категорию."
    ),
    sql=ARTIFACTS["revenue_by_category"].sql,
    params=[
        _date_param("start_date", "С", LAST_MONTH[0]),
        _date_param("end_date", "До", LAST_MONTH[1]),
    ],
    visualization=_bar_chart("category", "revenue", title="Выручка по категориям"),
)
RU_TURNS = (
    _user("Какие категории принесли больше всего выручки в прошлом месяце?"),
    _assistant(
        "Я сложил `quantity * unit_price` по позициям оплаченных, отправленных и доставленных "
        "заказов прошлого месяца и сгруппировал по категориям верхнего уровня (подкатегории "
        "входят в родительскую через `categories.parent_id`). Сохранил запрос как **Выручка по "
        "категориям за прошлый месяц**; месяц задают параметры `start_date` и `end_date`, так "
        "что запрос подходит для любого периода.",
        "ru",
        CREATED,
    ),
)


def seed_ru_demo(agent: Agent, *, as_of: dt.date) -> tuple[bool, bool]:
    """The Russian demo user and its one Russian chat (a question, a reply, the artifact it
    saved), where missing. Returns (user created, chat created)."""
    user, user_created = ensure_demo_ru_user()
    if Chat.objects.filter(owner=user, title=RU_CHAT_TITLE).exists():
        return user_created, False
    chat = Chat(title=RU_CHAT_TITLE, agent=agent, owner=user, language="ru")
    chat.full_clean()
    chat.save()
    spec = RU_ARTIFACT
    artifact = Artifact.objects.filter(owner=user, title=spec.title).first()
    if artifact is None:
        artifact = _new_artifact(spec, user=user, agent=agent, chat=chat)
    moment = timezone.now() - dt.timedelta(hours=2)
    for turn in RU_TURNS:
        moment += dt.timedelta(minutes=1)
        content = turn.content
        linked = artifact if turn.artifact else None
        if linked is not None:
            preview = results_preview(artifact, language="ru")
            content = f"{content}\n\n{preview}" if preview else content
        message = Message(
            chat=chat,
            role=turn.role,
            content=content,
            status=Message.Status.COMPLETE,
            artifact=linked,
            artifact_action=turn.action,
        )
        message.full_clean()
        message.save()
        if linked is not None:
            message.link_artifact(linked, turn.action, params=turn.params_on(as_of))
        Message.objects.filter(pk=message.pk).update(created_at=moment)
    Chat.objects.filter(pk=chat.pk).update(
        created_at=moment - dt.timedelta(minutes=5), updated_at=moment
    )
    return user_created, True


# Each shipped template (apps/llm_artifact/library/templates.json, by uid) filled in for the
# marketplace: title, slot values, parameter values.
TEMPLATE_EXAMPLES: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    "6f3a0f0e-6a1c-4c39-9d0e-2b1f7f0c0001": (
        "Top 10 products by units sold",
        {"table": "order_items", "dimension": "product_id", "measure": "quantity"},
        {},
    ),
    "6f3a0f0e-6a1c-4c39-9d0e-2b1f7f0c0002": (
        "Monthly revenue growth",
        {"table": "orders", "date_column": "ordered_at", "measure": "total"},
        {},
    ),
    "6f3a0f0e-6a1c-4c39-9d0e-2b1f7f0c0003": (
        "Revenue, 7-day moving average",
        {"table": "orders", "date_column": "ordered_at", "measure": "total"},
        {},
    ),
    "6f3a0f0e-6a1c-4c39-9d0e-2b1f7f0c0004": (
        "Customer retention by first-order month",
        {"table": "orders", "entity": "customer_id", "date_column": "ordered_at"},
        {},
    ),
    "6f3a0f0e-6a1c-4c39-9d0e-2b1f7f0c0005": (
        "Sign-ups who went on to order",
        {
            "first_table": "customers",
            "first_entity": "id",
            "first_date": "signed_up_at",
            "second_table": "orders",
            "second_entity": "customer_id",
            "second_date": "ordered_at",
        },
        {},
    ),
}


def seed_template_examples(user) -> list[str]:
    """The demo user's artifacts made from the shipped templates, where missing (a template
    that is not installed is passed over). Returns the titles created."""
    created = []
    for uid, (title, slots, params) in TEMPLATE_EXAMPLES.items():
        template = Artifact.objects.filter(uid=uid).first()
        if template is None or template.instances.filter(owner=user).exists():
            continue
        artifact = use_template(
            template,
            user=user,
            data_source=DEMO_DATA_SOURCE,
            slot_values=slots,
            raw_params=params,
            title=title,
        )
        created.append(artifact.title)
    return created


def _ensure_artifact(key: str, *, user, agent: Agent, chat: Chat) -> tuple[Artifact, bool]:
    spec = ARTIFACTS[key]
    existing = Artifact.objects.filter(owner=user, title=spec.title).first()
    if existing is not None:
        return existing, False
    return _new_artifact(spec, user=user, agent=agent, chat=chat), True


def _new_artifact(spec: DemoArtifact, *, user, agent: Agent, chat: Chat) -> Artifact:
    artifact = Artifact(
        title=spec.title,
        artifact_type=Artifact.ArtifactType.SQL_QUERY,
        status=Artifact.Status.ACTIVE,
        sql_query=spec.sql,
        query_params=spec.params,
        visualization_config=spec.visualization,
        data_source=DEMO_DATA_SOURCE,
        chat=chat,
        agent=agent,
        owner=user,
        description=spec.description,
    )
    artifact.full_clean()
    artifact.save()
    return artifact
