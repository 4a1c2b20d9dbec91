"""The demo marketplace: a deterministic, realistic dataset for artifacts to query.

`stream_dataset()` generates the rows from a fixed seed (Faker for names, one `random.Random`
for everything else) table by table while they are written, so two builds for the same day
and scale are identical and memory does not grow with the scale; `build_dataset()` holds the
same rows in memory, for tests.
Dates run over the two years before the build day, which keeps "last month" questions
meaningful. `write_sqlite()` writes the rows into a temporary file and renames it into place,
so a half-built database is never visible; `write_postgresql()` loads the same rows with COPY
in one transaction, with proper types (date, timestamp, numeric, boolean).

A small `dataset_info` table records what was built (schema version, seed, scale, as-of day)
so `manage.py seed_demo` can skip a rebuild, and so it never overwrites a database it did not
create.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import itertools
import math
import os
import random
import sqlite3
import tempfile
import unicodedata
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SEED = 20_240_601
# Bump when the tables, the columns or the generator change, so old files get rebuilt.
SCHEMA_VERSION = 1
HISTORY_DAYS = 730
MAX_SCALE = 10.0
ORDER_STATUSES = ("new", "paid", "shipped", "delivered", "cancelled", "returned")
INFO_TABLE = "dataset_info"


@dataclass(frozen=True)
class Column:
    name: str
    sqlite_type: str
    postgresql_type: str
    references: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


_STATUS_CHECK = f"CHECK (status IN ({', '.join(repr(status) for status in ORDER_STATUSES)}))"


def _id() -> Column:
    return Column("id", "INTEGER PRIMARY KEY", "integer PRIMARY KEY")


TABLES: tuple[Table, ...] = (
    Table(
        "categories",
        (
            _id(),
            Column("name", "TEXT NOT NULL", "text NOT NULL"),
            Column("parent_id", "INTEGER", "integer", references="categories"),
        ),
    ),
    Table(
        "sellers",
        (
            _id(),
            Column("name", "TEXT NOT NULL", "text NOT NULL"),
            Column("country", "TEXT NOT NULL", "text NOT NULL"),
            Column("rating", "REAL NOT NULL", "numeric(2,1) NOT NULL"),
            Column("joined_at", "DATE NOT NULL", "date NOT NULL"),
        ),
    ),
    Table(
        "products",
        (
            _id(),
            Column("seller_id", "INTEGER NOT NULL", "integer NOT NULL", references="sellers"),
            Column("category_id", "INTEGER NOT NULL", "integer NOT NULL", references="categories"),
            Column("sku", "TEXT NOT NULL UNIQUE", "text NOT NULL UNIQUE"),
            Column("name", "TEXT NOT NULL", "text NOT NULL"),
            Column("price", "REAL NOT NULL", "numeric(10,2) NOT NULL"),
            Column("created_at", "TIMESTAMP NOT NULL", "timestamp NOT NULL"),
            Column("is_active", "BOOLEAN NOT NULL", "boolean NOT NULL"),
        ),
    ),
    Table(
        "customers",
        (
            _id(),
            Column("name", "TEXT NOT NULL", "text NOT NULL"),
            Column("email", "TEXT NOT NULL UNIQUE", "text NOT NULL UNIQUE"),
            Column("city", "TEXT NOT NULL", "text NOT NULL"),
            Column("country", "TEXT NOT NULL", "text NOT NULL"),
            Column("signed_up_at", "TIMESTAMP NOT NULL", "timestamp NOT NULL"),
        ),
    ),
    Table(
        "orders",
        (
            _id(),
            Column("customer_id", "INTEGER NOT NULL", "integer NOT NULL", references="customers"),
            Column("status", f"TEXT NOT NULL {_STATUS_CHECK}", f"text NOT NULL {_STATUS_CHECK}"),
            Column("ordered_at", "TIMESTAMP NOT NULL", "timestamp NOT NULL"),
            Column("total", "REAL NOT NULL", "numeric(12,2) NOT NULL"),
        ),
    ),
    Table(
        "order_items",
        (
            _id(),
            Column("order_id", "INTEGER NOT NULL", "integer NOT NULL", references="orders"),
            Column("product_id", "INTEGER NOT NULL", "integer NOT NULL", references="products"),
            Column("quantity", "INTEGER NOT NULL", "integer NOT NULL"),
            Column("unit_price", "REAL NOT NULL", "numeric(10,2) NOT NULL"),
        ),
    ),
    Table(
        "reviews",
        (
            _id(),
            Column("product_id", "INTEGER NOT NULL", "integer NOT NULL", references="products"),
            Column("customer_id", "INTEGER NOT NULL", "integer NOT NULL", references="customers"),
            Column("rating", "INTEGER NOT NULL", "integer NOT NULL"),
            Column("body", "TEXT NOT NULL", "text NOT NULL"),
            Column("created_at", "TIMESTAMP NOT NULL", "timestamp NOT NULL"),
        ),
    ),
)
TABLE_NAMES = tuple(table.name for table in TABLES)

# The indexes an analyst's queries lean on: every foreign key and the usual filters.
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("categories_parent_id", "categories", ("parent_id",)),
    ("products_seller_id", "products", ("seller_id",)),
    ("products_category_id", "products", ("category_id",)),
    ("customers_country_city", "customers", ("country", "city")),
    ("orders_customer_id", "orders", ("customer_id",)),
    ("orders_ordered_at", "orders", ("ordered_at",)),
    ("orders_status_ordered_at", "orders", ("status", "ordered_at")),
    ("order_items_order_id", "order_items", ("order_id",)),
    ("order_items_product_id", "order_items", ("product_id",)),
    ("reviews_product_id", "reviews", ("product_id",)),
    ("reviews_customer_id", "reviews", ("customer_id",)),
    ("reviews_created_at", "reviews", ("created_at",)),
)

# Row counts at scale 1; categories are a fixed tree whatever the scale.
BASE_COUNTS = {"sellers": 400, "products": 5_000, "customers": 40_000, "orders": 100_000}
MIN_COUNTS = {"sellers": 5, "products": 30, "customers": 30, "orders": 50}

# (country, Faker locale, share of customers, real cities)
COUNTRIES: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    (
        "United States",
        "en_US",
        30,
        ("New York", "Los Angeles", "Chicago", "Houston", "Seattle", "Boston", "Denver"),
    ),
    (
        "United Kingdom",
        "en_GB",
        12,
        ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol"),
    ),
    ("Germany", "de_DE", 14, ("Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt", "Leipzig")),
    ("France", "fr_FR", 11, ("Paris", "Lyon", "Marseille", "Toulouse", "Lille", "Bordeaux")),
    ("Spain", "es_ES", 8, ("Madrid", "Barcelona", "Valencia", "Seville", "Bilbao")),
    ("Italy", "it_IT", 7, ("Rome", "Milan", "Naples", "Turin", "Bologna")),
    ("Netherlands", "nl_NL", 5, ("Amsterdam", "Rotterdam", "Utrecht", "The Hague", "Eindhoven")),
    ("Poland", "pl_PL", 5, ("Warsaw", "Kraków", "Wrocław", "Gdańsk", "Poznań")),
    ("Sweden", "sv_SE", 3, ("Stockholm", "Gothenburg", "Malmö", "Uppsala")),
    ("Canada", "en_CA", 5, ("Toronto", "Montreal", "Vancouver", "Calgary", "Ottawa")),
)

# Top-level category -> leaves: (name, nouns for product names, price range, popularity)
CATEGORY_TREE: tuple[tuple[str, tuple[tuple[str, tuple[str, ...], tuple[int, int], int], ...]], ...]
CATEGORY_TREE = (
    (
        "Electronics",
        (
            ("Phones", ("Smartphone", "Phone case", "Charger", "Screen protector"), (9, 1200), 9),
            ("Laptops", ("Laptop", "Ultrabook", "Laptop sleeve", "Docking station"), (25, 2400), 6),
            ("Audio", ("Headphones", "Earbuds", "Bluetooth speaker", "Soundbar"), (15, 600), 8),
            ("Cameras", ("Mirrorless camera", "Action camera", "Tripod", "Lens"), (20, 1800), 3),
            (
                "Smart home",
                ("Smart plug", "Smart bulb", "Video doorbell", "Thermostat"),
                (12, 300),
                5,
            ),
        ),
    ),
    (
        "Home & Kitchen",
        (
            ("Cookware", ("Frying pan", "Saucepan", "Dutch oven", "Knife set"), (12, 350), 7),
            ("Furniture", ("Office chair", "Bookshelf", "Desk", "Side table"), (40, 900), 4),
            ("Bedding", ("Duvet", "Pillow", "Sheet set", "Blanket"), (15, 250), 5),
            ("Decor", ("Table lamp", "Wall clock", "Vase", "Picture frame"), (8, 180), 4),
        ),
    ),
    (
        "Fashion",
        (
            ("Men's clothing", ("T-shirt", "Jacket", "Jeans", "Sweater"), (12, 250), 7),
            ("Women's clothing", ("Dress", "Blouse", "Coat", "Cardigan"), (14, 300), 8),
            ("Shoes", ("Sneakers", "Boots", "Sandals", "Running shoes"), (25, 260), 6),
            ("Bags", ("Backpack", "Tote bag", "Wallet", "Travel duffel"), (15, 400), 4),
        ),
    ),
    (
        "Sports & Outdoors",
        (
            (
                "Fitness",
                ("Yoga mat", "Dumbbell set", "Resistance bands", "Kettlebell"),
                (10, 400),
                5,
            ),
            ("Cycling", ("Bike helmet", "Bike light", "Cycling gloves", "Bike lock"), (10, 350), 3),
            ("Camping", ("Tent", "Sleeping bag", "Camping stove", "Headlamp"), (12, 500), 3),
        ),
    ),
    (
        "Books",
        (
            ("Fiction", ("Novel", "Thriller", "Short stories", "Fantasy saga"), (6, 35), 6),
            ("Non-fiction", ("Biography", "History book", "Cookbook", "Travel guide"), (8, 45), 5),
            ("Children's books", ("Picture book", "Activity book", "Bedtime stories"), (5, 25), 4),
        ),
    ),
    (
        "Toys & Games",
        (
            (
                "Board games",
                ("Board game", "Card game", "Party game", "Strategy game"),
                (10, 90),
                4,
            ),
            ("Building sets", ("Building set", "Construction kit", "Marble run"), (15, 250), 3),
            ("Puzzles", ("Jigsaw puzzle", "3D puzzle", "Puzzle box"), (8, 60), 2),
        ),
    ),
    (
        "Beauty",
        (
            ("Skincare", ("Moisturiser", "Serum", "Sunscreen", "Face mask"), (6, 120), 6),
            ("Fragrance", ("Eau de parfum", "Eau de toilette", "Body mist"), (15, 180), 3),
            (
                "Hair care",
                ("Shampoo", "Hair dryer", "Conditioner", "Hair straightener"),
                (5, 200),
                4,
            ),
        ),
    ),
    (
        "Grocery",
        (
            (
                "Coffee & tea",
                ("Coffee beans", "Ground coffee", "Green tea", "Herbal tea"),
                (4, 45),
                7,
            ),
            ("Snacks", ("Dark chocolate", "Trail mix", "Protein bars", "Crackers"), (2, 30), 5),
            ("Pantry", ("Olive oil", "Pasta", "Spice set", "Honey"), (3, 40), 4),
        ),
    ),
)

ADJECTIVES = (
    "Classic", "Compact", "Premium", "Essential", "Pro", "Lite", "Everyday", "Deluxe", "Eco",
    "Urban", "Nordic", "Vintage", "Smart", "Ultra", "Studio", "Travel", "Organic", "Signature",
)  # fmt: skip

REVIEW_PHRASES = {
    5: (
        "Excellent quality, exactly as described.",
        "Arrived quickly and works perfectly.",
        "Would buy again without hesitation.",
        "Great value for the price.",
        "Exceeded my expectations.",
        "The seller was helpful and fast.",
    ),
    4: (
        "Good product overall.",
        "Works well, delivery took a little longer than expected.",
        "Solid quality for the price.",
        "Happy with it, the packaging could be better.",
        "Nice, but the colour is slightly different from the photos.",
    ),
    3: (
        "Does the job, nothing special.",
        "Average quality.",
        "OK, but the description was a bit optimistic.",
        "Mixed feelings about this one.",
    ),
    2: (
        "Quality is lower than expected.",
        "Stopped working properly after a few weeks.",
        "Not as pictured.",
        "Slow delivery and so-so quality.",
    ),
    1: (
        "Arrived damaged.",
        "Does not work at all.",
        "Very disappointed, I sent it back.",
        "Poor quality, would not recommend.",
    ),
}


@dataclass(frozen=True)
class BuildInfo:
    """What a built demo database says about itself (its `dataset_info` table)."""

    schema_version: int
    seed: int
    scale: float
    as_of: dt.date

    def is_current(self, *, scale: float, today: dt.date) -> bool:
        """True when rebuilding would give the same data for this month.

        The as-of day only has to fall in the current month: a database built earlier this
        month still has full data for "last month", and `make run` stays fast.
        """
        return (
            self.schema_version == SCHEMA_VERSION
            and self.seed == SEED
            and math.isclose(self.scale, scale)
            and (self.as_of.year, self.as_of.month) == (today.year, today.month)
        )


@dataclass
class Dataset:
    """Every row of the dataset in memory (build_dataset): for tests and small scales."""

    as_of: dt.date
    scale: float
    rows: dict[str, list[tuple]]

    def info(self) -> BuildInfo:
        return BuildInfo(SCHEMA_VERSION, SEED, self.scale, self.as_of)

    def tables(self) -> Iterator[tuple[Table, Iterable[tuple]]]:
        for table in TABLES:
            yield table, self.rows[table.name]

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.rows.items()}


class DatasetStream:
    """The dataset generated table by table while it is written (stream_dataset).

    tables() yields each table with an iterator of its rows, in TABLES order; a table's
    rows must all be read before the next table is asked for, since one random.Random
    draws them all in that order. Memory stays flat whatever the scale: only what later
    tables depend on is kept (the catalogue, sign-up times, delivered items), compactly.
    `counts` holds each table's row count once its rows have been read.
    """

    def __init__(self, scale: float, as_of: dt.date) -> None:
        self.scale = scale
        self.as_of = as_of
        self.counts: dict[str, int] = {}
        self._sizes = scaled_counts(scale)

    def info(self) -> BuildInfo:
        return BuildInfo(SCHEMA_VERSION, SEED, self.scale, self.as_of)

    def tables(self) -> Iterator[tuple[Table, Iterable[tuple]]]:
        by_name = {table.name: table for table in TABLES}
        for name, rows in _generate(self._sizes, self.as_of):
            counted = _Counted(rows)
            yield by_name[name], counted
            if not counted.exhausted:
                raise RuntimeError(f"The rows of {name} were not all read before the next table.")
            self.counts[name] = counted.count


class _Counted:
    """An iterator over rows that counts them and knows whether it ran out."""

    def __init__(self, rows: Iterable[tuple]) -> None:
        self._rows = iter(rows)
        self.count = 0
        self.exhausted = False

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> tuple:
        try:
            row = next(self._rows)
        except StopIteration:
            self.exhausted = True
            raise
        self.count += 1
        return row


class DemoTargetError(Exception):
    """The target holds something that is not a demo database: refuse to overwrite it."""


def scaled_counts(scale: float) -> dict[str, int]:
    validate_scale(scale)
    return {
        table: max(MIN_COUNTS[table], round(count * scale)) for table, count in BASE_COUNTS.items()
    }


def validate_scale(scale: float) -> None:
    if not (0 < scale <= MAX_SCALE) or math.isnan(scale):
        raise ValueError(f"Scale must be above 0 and at most {MAX_SCALE:g}, got {scale!r}.")


# --- generation ---------------------------------------------------------------------------


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _timestamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _money(cents: int) -> float:
    # cents / 100 gives the shortest float repr ("12.34"), which both engines read exactly.
    return cents / 100


def _name_pools(count_per_locale: int) -> dict[str, tuple[list[str], list[str], list[str]]]:
    """First names, last names and company names per country, from seeded Fakers.

    Faker is slow per call, so a few hundred names per country are made once and combined.
    """
    from faker import Faker  # imported here: only seeding needs it

    pools = {}
    for index, (country, locale, _share, _cities) in enumerate(COUNTRIES):
        fake = Faker(locale)
        fake.seed_instance(SEED + index)
        first = [fake.first_name() for _ in range(count_per_locale)]
        last = [fake.last_name() for _ in range(count_per_locale)]
        companies = [fake.company() for _ in range(count_per_locale // 3)]
        pools[country] = (first, last, companies)
    return pools


def _spread(rng: random.Random, count: int, start: dt.datetime, end: dt.datetime) -> list:
    """`count` sorted moments between start and end, so ids follow time as in a real shop."""
    span = int((end - start).total_seconds())
    return sorted(start + dt.timedelta(seconds=rng.randrange(span)) for _ in range(count))


def _order_day_weights(first_day: dt.date) -> list[float]:
    # Growth over the two years, busier weekends and a November-December peak.
    weights = []
    for index in range(HISTORY_DAYS):
        day = first_day + dt.timedelta(days=index)
        weight = 0.6 + 0.8 * index / HISTORY_DAYS
        if day.weekday() >= 5:
            weight *= 1.25
        weight *= {11: 1.35, 12: 1.55, 1: 0.85, 2: 0.9}.get(day.month, 1.0)
        weights.append(weight)
    return weights


HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 8, 9, 8, 8, 8, 8, 9, 10, 11, 11, 9, 6, 3)


def _status(rng: random.Random, days_ago: int) -> str:
    """Recent orders are still on their way; old ones have settled."""
    if days_ago < 2:
        choices, weights = ("new", "paid", "cancelled"), (45, 45, 10)
    elif days_ago < 7:
        choices, weights = ("paid", "shipped", "delivered", "cancelled"), (20, 63, 7, 10)
    elif days_ago < 14:
        choices = ("shipped", "delivered", "cancelled", "returned")
        weights = (30, 60, 7, 3)
    else:
        choices, weights = ("delivered", "cancelled", "returned"), (86, 8, 6)
    return rng.choices(choices, weights)[0]


@dataclass(frozen=True)
class _Period:
    """The span the data covers: two years up to the build day."""

    as_of: dt.date
    end: dt.datetime
    history_start: dt.datetime


@dataclass(frozen=True)
class _Leaf:
    """A leaf category that products hang off, with what its products look like."""

    id: int
    top_name: str
    nouns: tuple[str, ...]
    price_range: tuple[int, int]


@dataclass(frozen=True)
class _SellerProfiles:
    joined: list[dt.date]  # sorted
    countries: list[str]
    names: list[str]


@dataclass(frozen=True)
class _Catalogue:
    rows: list[tuple]
    created: list[dt.datetime]  # sorted, by product index
    price_cents: list[int]
    # The hidden mean rating of each product: drives reviews and seller ratings.
    quality: list[float]
    popularity: list[float]
    seller_qualities: list[list[float]]  # by seller index


class _Delivered:
    """Delivered items, for reviews: one entry an item, in order, in compact arrays."""

    def __init__(self) -> None:
        self.product_index = array("i")
        self.customer_id = array("i")
        self.ordered_at = array("q")  # seconds after the history's start

    def append(self, product_index: int, customer_id: int, ordered_at: int) -> None:
        self.product_index.append(product_index)
        self.customer_id.append(customer_id)
        self.ordered_at.append(ordered_at)


# Draws of many values at once are taken this many at a time: the same calls to the
# generator as one big draw, without a list of them all.
DRAW_CHUNK = 10_000


def build_dataset(scale: float = 1.0, *, today: dt.date | None = None) -> Dataset:
    """Every row of the demo marketplace in memory, deterministic for a scale and day.

    The same rows as stream_dataset(), which seed_demo uses so that memory does not grow
    with the scale.
    """
    stream = stream_dataset(scale, today=today)
    rows = {table.name: list(table_rows) for table, table_rows in stream.tables()}
    return Dataset(as_of=stream.as_of, scale=scale, rows=rows)


def stream_dataset(scale: float = 1.0, *, today: dt.date | None = None) -> DatasetStream:
    """The demo marketplace generated table by table as it is written (see DatasetStream)."""
    scaled_counts(scale)  # validates the scale now, not at the first row
    return DatasetStream(scale, today or dt.date.today())


def _generate(counts: dict[str, int], as_of: dt.date) -> Iterator[tuple[str, Iterable[tuple]]]:
    """Each table's name and rows, in TABLES order.

    One random.Random draws everything, in a fixed order: the order of the calls below is
    part of the dataset. Products are drawn before the sellers' ratings (which follow
    what they sell) but written after them; orders and their items are drawn together,
    so they are drawn twice from the same state, once for each table.
    """
    rng = random.Random(SEED)
    end = dt.datetime.combine(as_of, dt.time())
    period = _Period(as_of, end, end - dt.timedelta(days=HISTORY_DAYS))
    pools = _name_pools(max(60, min(400, counts["customers"] // 20)))

    categories, leaves, leaf_weights = _categories()
    profiles = _seller_profiles(rng, counts["sellers"], period, pools)
    catalogue = _products(rng, counts["products"], period, leaves, leaf_weights, profiles, pools)
    sellers = _sellers(rng, profiles, catalogue.seller_qualities)
    yield "categories", categories
    yield "sellers", sellers
    yield "products", catalogue.rows
    catalogue.rows.clear()  # written; orders need only the catalogue's other lists
    signed_up = _sign_ups(rng, counts["customers"], period)
    yield "customers", _customers(rng, signed_up, period, pools)
    state = rng.getstate()
    yield (
        "orders",
        (order for order, _items in _orders(rng, counts["orders"], period, signed_up, catalogue)),
    )
    rng.setstate(state)
    delivered = _Delivered()
    orders = _orders(rng, counts["orders"], period, signed_up, catalogue, delivered)
    yield "order_items", (item for _order, items in orders for item in items)
    yield "reviews", _reviews(rng, delivered, catalogue.quality, period)


def _categories() -> tuple[list[tuple], list[_Leaf], list[int]]:
    """A two-level tree; products hang off the leaves (weighted by their popularity)."""
    categories: list[tuple] = []
    leaves: list[_Leaf] = []
    leaf_weights: list[int] = []
    for top_name, children in CATEGORY_TREE:
        top_id = len(categories) + 1
        categories.append((top_id, top_name, None))
        for leaf_name, nouns, price_range, popularity in children:
            leaf_id = len(categories) + 1
            categories.append((leaf_id, leaf_name, top_id))
            leaves.append(_Leaf(leaf_id, top_name, nouns, price_range))
            leaf_weights.append(popularity)
    return categories, leaves, leaf_weights


def _countries(rng: random.Random, count: int) -> list[str]:
    names = [country for country, *_ in COUNTRIES]
    weights = [share for _c, _l, share, _cities in COUNTRIES]
    return rng.choices(names, weights, k=count)


def _country_indexes(rng: random.Random, count: int) -> array:
    """_countries() as indexes into COUNTRIES, one byte each: the same draws."""
    weights = [share for _c, _l, share, _cities in COUNTRIES]
    indexes = array("B")
    population = range(len(COUNTRIES))
    for start in range(0, count, DRAW_CHUNK):
        indexes.extend(rng.choices(population, weights, k=min(DRAW_CHUNK, count - start)))
    return indexes


def _seller_profiles(
    rng: random.Random, count: int, period: _Period, pools: dict
) -> _SellerProfiles:
    """Sellers joined before and during the history; most were there from the start."""
    joined = sorted(
        period.as_of - dt.timedelta(days=rng.randrange(60, 6 * 365)) for _ in range(count)
    )
    # The first seller (and below, customer and product) predates the history, so every
    # order and listing has someone to belong to.
    joined[0] = min(joined[0], (period.history_start - dt.timedelta(days=400)).date())
    countries = _countries(rng, count)
    names = []
    used_names: set[str] = set()
    for country in countries:
        name = rng.choice(pools[country][2])
        # Company names repeat in small pools; a trading name keeps sellers distinguishable.
        while name in used_names:
            name = f"{rng.choice(pools[country][1])} {rng.choice(('Trading', 'Store', 'Direct'))}"
            if name in used_names:
                name = f"{name} {len(used_names)}"
        used_names.add(name)
        names.append(name)
    return _SellerProfiles(joined, countries, names)


def _products(
    rng: random.Random,
    count: int,
    period: _Period,
    leaves: list[_Leaf],
    leaf_weights: list[int],
    sellers: _SellerProfiles,
    pools: dict,
) -> _Catalogue:
    """Most of the catalogue predates the history, the rest arrives over time."""
    catalogue_start = period.history_start - dt.timedelta(days=365)
    created_at = _spread(rng, count, catalogue_start, period.end)
    created_at[0] = min(created_at[0], period.history_start)
    brands = sorted({last for _f, lasts, _c in pools.values() for last in lasts[:40]})
    rows: list[tuple] = []
    prices: list[int] = []
    qualities: list[float] = []
    popularity: list[float] = []
    seller_qualities: list[list[float]] = [[] for _ in sellers.names]
    for index, created in enumerate(created_at):
        leaf = rng.choices(leaves, leaf_weights)[0]
        low, high = leaf.price_range
        # Only sellers who had joined by then can list the product.
        joined = bisect.bisect_right(sellers.joined, created.date())
        seller_index = rng.randrange(max(joined, 1))
        price = max(1.0, math.exp(rng.uniform(math.log(low), math.log(high))))
        cents = max(99, int(price) * 100 + 99 if price >= 5 else int(price * 100))
        quality = min(5.0, max(1.5, rng.gauss(4.0, 0.55)))
        prices.append(cents)
        qualities.append(quality)
        popularity.append(rng.paretovariate(1.6))
        seller_qualities[seller_index].append(quality)
        name = f"{rng.choice(brands)} {rng.choice(ADJECTIVES)} {rng.choice(leaf.nouns)}"
        rows.append(
            (
                index + 1,
                seller_index + 1,
                leaf.id,
                f"{leaf.top_name[:3].upper()}-{index + 1:06d}",
                name,
                _money(cents),
                _timestamp(created),
                rng.random() > 0.06,
            )
        )
    cap = sorted(popularity)[int(len(popularity) * 0.99)]
    popularity = [min(p, cap) / cap for p in popularity]
    return _Catalogue(rows, created_at, prices, qualities, popularity, seller_qualities)


def _sellers(
    rng: random.Random, profiles: _SellerProfiles, seller_qualities: list[list[float]]
) -> list[tuple]:
    """A seller's rating follows the quality of what it sells."""
    sellers = []
    for index, (name, country, joined) in enumerate(
        zip(profiles.names, profiles.countries, profiles.joined, strict=True)
    ):
        qualities = seller_qualities[index]
        mean = sum(qualities) / len(qualities) if qualities else rng.gauss(4.0, 0.4)
        rating = round(min(5.0, max(1.0, mean + rng.gauss(0, 0.15))), 1)
        sellers.append((index + 1, name, country, rating, joined.isoformat()))
    return sellers


def _sign_ups(rng: random.Random, count: int, period: _Period) -> array:
    """When each customer signed up, sorted, in seconds after the history's start: a third
    before it, the rest during it. The same draws as _spread()."""
    start = -365 * 86400
    span = int((period.end - period.history_start).total_seconds()) - start
    signed_up = array("q", sorted(start + rng.randrange(span) for _ in range(count)))
    signed_up[0] = min(signed_up[0], 0)
    return signed_up


def _customers(
    rng: random.Random, signed_up: array, period: _Period, pools: dict
) -> Iterator[tuple]:
    countries = _country_indexes(rng, len(signed_up))
    cities = [list(city_list) for _c, _l, _s, city_list in COUNTRIES]
    for index, (seconds, country) in enumerate(zip(signed_up, countries, strict=True)):
        first_names, last_names, _companies = pools[COUNTRIES[country][0]]
        first, last = rng.choice(first_names), rng.choice(last_names)
        email = f"{_ascii_slug(first)}.{_ascii_slug(last)}{index + 1}@example.com"
        city = rng.choice(cities[country])
        moment = period.history_start + dt.timedelta(seconds=seconds)
        yield (index + 1, f"{first} {last}", email, city, COUNTRIES[country][0], _timestamp(moment))


def _order_days(rng: random.Random, count: int, period: _Period) -> Iterator[int]:
    """The day (index into the history) of each order, in order. The same draws as one
    rng.choices(..., k=count), counted per day instead of listed and sorted."""
    cum_weights = _cumulative(_order_day_weights(period.history_start.date()))
    per_day = [0] * HISTORY_DAYS
    for start in range(0, count, DRAW_CHUNK):
        days = rng.choices(
            range(HISTORY_DAYS), cum_weights=cum_weights, k=min(DRAW_CHUNK, count - start)
        )
        for day in days:
            per_day[day] += 1
    for day, orders in enumerate(per_day):
        yield from itertools.repeat(day, orders)


def _orders(
    rng: random.Random,
    count: int,
    period: _Period,
    signed_up: array,
    catalogue: _Catalogue,
    delivered: _Delivered | None = None,
) -> Iterator[tuple[tuple, list[tuple]]]:
    """Each order and its items, in time order; delivered items go to `delivered`."""
    hour_cum = _cumulative(HOUR_WEIGHTS)
    item_id = 0
    for index, day_index in enumerate(_order_days(rng, count, period)):
        hour = rng.choices(range(24), cum_weights=hour_cum)[0]
        seconds = rng.randrange(3600)
        offset = day_index * 86400 + hour * 3600 + seconds
        ordered_at = period.history_start + dt.timedelta(
            days=day_index, hours=hour, seconds=seconds
        )
        # Earlier customers have had longer to come back: they order more often.
        customer_id = int(max(bisect.bisect_right(signed_up, offset), 1) * rng.random() ** 1.3) + 1
        status = _status(rng, HISTORY_DAYS - day_index)
        listed = max(bisect.bisect_right(catalogue.created, ordered_at), 1)
        order_id = index + 1
        total_cents = 0
        chosen: list[int] = []
        items: list[tuple] = []
        for _ in range(rng.choices((1, 2, 3, 4, 5), (45, 28, 15, 8, 4))[0]):
            product_index = _pick_product(rng, listed, catalogue.popularity)
            if product_index in chosen:
                continue
            chosen.append(product_index)
            quantity = rng.choices((1, 2, 3, 4), (78, 15, 5, 2))[0]
            unit_cents = catalogue.price_cents[product_index]
            if rng.random() < 0.15:
                unit_cents = unit_cents * rng.choice((70, 80, 85, 90)) // 100
            total_cents += quantity * unit_cents
            item_id += 1
            items.append((item_id, order_id, product_index + 1, quantity, _money(unit_cents)))
            if delivered is not None and status in ("delivered", "returned"):
                delivered.append(product_index, customer_id, offset)
        order = (order_id, customer_id, status, _timestamp(ordered_at), _money(total_cents))
        yield order, items


# A review's sort key packs (written, product id, customer id, position) into one integer,
# so sorting them costs one int each instead of a tuple.
_KEY_BITS = 24


def _reviews(
    rng: random.Random,
    delivered: _Delivered,
    product_quality: list[float],
    period: _Period,
) -> Iterator[tuple]:
    """Some buyers of delivered items write one, a few days to weeks later; numbered in
    the order they were written."""
    end = int((period.end - period.history_start).total_seconds())
    keys: list[int] = []
    ratings = array("b")
    bodies: list[int] = []
    body_texts: dict[str, int] = {}
    for product_index, customer_id, ordered_at in zip(
        delivered.product_index, delivered.customer_id, delivered.ordered_at, strict=True
    ):
        if rng.random() >= 0.12:
            continue
        written = ordered_at + rng.randint(3, 40) * 86400 + rng.randrange(86400)
        if written >= end:
            continue
        rating = min(5, max(1, round(rng.gauss(product_quality[product_index], 0.9))))
        phrases = REVIEW_PHRASES[rating]
        body = " ".join(rng.sample(phrases, rng.choice((1, 1, 2))))
        # Sorted by (written, product, customer), ties in the order drawn.
        key = (written << _KEY_BITS | product_index + 1) << _KEY_BITS | customer_id
        keys.append(key << _KEY_BITS | len(ratings))
        ratings.append(rating)
        bodies.append(body_texts.setdefault(body, len(body_texts)))
    keys.sort()
    texts = list(body_texts)
    position_mask = (1 << _KEY_BITS) - 1
    for index, key in enumerate(keys):
        position = key & position_mask
        customer_id = key >> _KEY_BITS & position_mask
        product_id = key >> 2 * _KEY_BITS & position_mask
        written = period.history_start + dt.timedelta(seconds=key >> 3 * _KEY_BITS)
        body = texts[bodies[position]]
        yield (index + 1, product_id, customer_id, ratings[position], body, _timestamp(written))


def _cumulative(weights) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _pick_product(rng: random.Random, listed: int, popularity: list[float]) -> int:
    # Rejection sampling among the products listed by then, biased towards popular ones.
    for _ in range(20):
        candidate = rng.randrange(listed)
        if rng.random() < popularity[candidate]:
            return candidate
    return rng.randrange(listed)


# --- SQLite ---------------------------------------------------------------------------------


def _sqlite_ddl(table: Table) -> str:
    columns = []
    for column in table.columns:
        definition = f"{column.name} {column.sqlite_type}"
        if column.references:
            definition += f" REFERENCES {column.references}(id)"
        columns.append(definition)
    return f"CREATE TABLE {table.name} (\n    " + ",\n    ".join(columns) + "\n)"


def _index_ddl(name: str, table: str, columns: tuple[str, ...]) -> str:
    return f"CREATE INDEX {name} ON {table} ({', '.join(columns)})"


def _info_rows(info: BuildInfo) -> list[tuple[str, str]]:
    return [
        ("schema_version", str(info.schema_version)),
        ("seed", str(info.seed)),
        ("scale", repr(info.scale)),
        ("as_of", info.as_of.isoformat()),
    ]


def _parse_info(pairs: dict[str, str]) -> BuildInfo | None:
    try:
        return BuildInfo(
            schema_version=int(pairs["schema_version"]),
            seed=int(pairs["seed"]),
            scale=float(pairs["scale"]),
            as_of=dt.date.fromisoformat(pairs["as_of"]),
        )
    except (KeyError, ValueError):
        return None


def sqlite_build_info(path: Path) -> BuildInfo | None:
    """The build info of a demo SQLite file, or None if it is missing or not a demo database.

    Raises DemoTargetError when the file holds tables that seed_demo did not create.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as conn:
            tables = {
                name
                for (name,) in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            }
            if not tables:
                return None
            if INFO_TABLE not in tables:
                raise DemoTargetError(
                    f"{path} is a database that seed_demo did not create (tables: "
                    f"{', '.join(sorted(tables))}); refusing to replace it."
                )
            info = _parse_info(dict(conn.execute(f"SELECT key, value FROM {INFO_TABLE}")))
    except sqlite3.DatabaseError as exc:
        raise DemoTargetError(f"{path} is not a readable SQLite database ({exc}).") from exc
    if info is None or not set(TABLE_NAMES) <= tables:
        # Ours, but from an older or interrupted layout: rebuild it.
        return BuildInfo(0, 0, 0.0, dt.date.min)
    return info


def write_sqlite(dataset: Dataset, path: Path) -> None:
    """Write the dataset to `path` atomically: build a temporary file, then rename it."""
    path = Path(path)
    sqlite_build_info(path)  # raises DemoTargetError for a foreign database
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        conn = sqlite3.connect(temporary, isolation_level=None)
        try:
            # No journal: if the build fails the temporary file is thrown away anyway.
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("BEGIN")
            for table, rows in dataset.tables():
                conn.execute(_sqlite_ddl(table))
                placeholders = ", ".join("?" for _ in table.columns)
                conn.executemany(f"INSERT INTO {table.name} VALUES ({placeholders})", rows)
            for name, table_name, columns in INDEXES:
                conn.execute(_index_ddl(name, table_name, columns))
            conn.execute(f"CREATE TABLE {INFO_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.executemany(f"INSERT INTO {INFO_TABLE} VALUES (?, ?)", _info_rows(dataset.info()))
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("ANALYZE")
        finally:
            conn.close()
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


# --- PostgreSQL -----------------------------------------------------------------------------


def _postgresql_ddl(table: Table) -> str:
    columns = ", ".join(f"{column.name} {column.postgresql_type}" for column in table.columns)
    return f"CREATE TABLE {table.name} ({columns})"


def postgresql_build_info(url: str) -> BuildInfo | None:
    """Like sqlite_build_info, for the `public` schema of a PostgreSQL database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return _postgresql_build_info(conn)


def _postgresql_build_info(conn) -> BuildInfo | None:
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_name = ANY(%s)",
            [[*TABLE_NAMES, INFO_TABLE]],
        )
    }
    if not tables:
        return None
    if INFO_TABLE not in tables:
        raise DemoTargetError(
            "The PostgreSQL database already has tables named "
            f"{', '.join(sorted(tables))} that seed_demo did not create; refusing to replace them."
        )
    info = _parse_info(dict(conn.execute(f"SELECT key, value FROM {INFO_TABLE}").fetchall()))
    if info is None or not set(TABLE_NAMES) <= tables:
        return BuildInfo(0, 0, 0.0, dt.date.min)
    return info


def write_postgresql(dataset: Dataset, url: str) -> None:
    """Load the dataset into PostgreSQL with COPY, replacing an earlier demo load.

    Everything happens in one transaction (PostgreSQL DDL is transactional), so readers see
    the old dataset or the new one, never half of one. Constraints and indexes are added
    after the rows, the usual order for a bulk load.
    """
    import psycopg

    with psycopg.connect(url) as conn:
        _postgresql_build_info(conn)  # raises DemoTargetError for foreign tables
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {INFO_TABLE}, {', '.join(TABLE_NAMES)} CASCADE")
            for table, rows in dataset.tables():
                cur.execute(_postgresql_ddl(table))
                columns = ", ".join(table.column_names)
                with cur.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for table in TABLES:
                for column in table.columns:
                    if column.references:
                        cur.execute(
                            f"ALTER TABLE {table.name} ADD CONSTRAINT "
                            f"{table.name}_{column.name}_fkey FOREIGN KEY ({column.name}) "
                            f"REFERENCES {column.references} (id)"
                        )
            for name, table_name, index_columns in INDEXES:
                cur.execute(_index_ddl(name, table_name, index_columns))
            cur.execute(f"CREATE TABLE {INFO_TABLE} (key text PRIMARY KEY, value text NOT NULL)")
            cur.executemany(f"INSERT INTO {INFO_TABLE} VALUES (%s, %s)", _info_rows(dataset.info()))
            for table in TABLE_NAMES:
                cur.execute(f"ANALYZE {table}")
        conn.commit()
