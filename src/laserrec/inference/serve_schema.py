"""Request and response bodies of the service (``laserrec serve``), as pydantic models: they are the OpenAPI
schema, and every request is checked against them before it reaches the model (strict types, no unknown
fields, bounded lists), so a bad request is answered 422 naming the field and the value."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from laserrec.data.ids import MAX_ID

MAX_HISTORY = 1_000  # ids per history (the models read only their last few)
MAX_HISTORIES = 256  # histories per batch request
MAX_IDS = 100_000  # ids in candidates / exclude
MAX_NEW_ITEMS = 100  # items per add request
MAX_TEXT = 10_000  # characters of one text field
MAX_K = 10_000  # also at most the catalog's size, checked per request

Id = Annotated[str, Field(max_length=MAX_ID, description="a raw item id, as in the dataset")]
Text = Annotated[str, Field(max_length=MAX_TEXT)]


class Checked(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Contains(Checked):
    contains: Text = Field(description="the field holds this text (any case)")


Condition = Annotated[Text | Contains, Field(description='a value (equals, any case) or {"contains": text}')]


class Where(Checked):
    """Item-field filters, all of which must hold. A value equals (on categories: any one category of the
    item's comma-separated path); ``{"contains": text}`` contains. Case is ignored."""

    title: Condition | None = None
    brand: Condition | None = None
    categories: Condition | None = None
    description: Condition | None = None

    def conditions(self) -> dict:
        return self.model_dump(exclude_none=True)


class Options(Checked):
    k: int = Field(10, ge=1, le=MAX_K, description="items per list, at most the catalog's size")
    exclude_history: bool = Field(False, description="leave out items the user already has")
    where: Where | None = None
    candidates: list[Id] | None = Field(None, max_length=MAX_IDS, description="rank only these ids")
    exclude: list[Id] | None = Field(None, max_length=MAX_IDS, description="never these ids")
    on_unknown: Literal["error", "skip"] = Field(
        "error", description="a history id outside the catalog: refuse the request, or skip it"
    )

    def options(self) -> dict:
        """Keyword arguments of ``LoadedRun.recommend_many`` (all but k)."""
        return {
            "exclude_history": self.exclude_history,
            "where": None if self.where is None else self.where.conditions(),
            "candidates": self.candidates,
            "exclude": self.exclude,
            "on_unknown": self.on_unknown,
        }


class RecommendRequest(Options):
    history: list[Id] = Field(min_length=1, max_length=MAX_HISTORY, description="raw item ids, oldest first")


class BatchRequest(Options):
    histories: list[Annotated[list[Id], Field(min_length=1, max_length=MAX_HISTORY)]] = Field(
        min_length=1, max_length=MAX_HISTORIES, description="histories, each of raw ids oldest first"
    )


class Item(BaseModel):
    id: str
    title: str
    brand: str
    categories: str
    description: str


class Ranked(BaseModel):
    rank: int = Field(ge=1)
    id: str
    title: str
    brand: str
    categories: str
    description: str
    score: float = Field(description="the model's score (higher ranks first)")


class RecommendResponse(BaseModel):
    items: list[Ranked]
    skipped: list[str] = Field(description="history ids left out as not in the catalog (on_unknown=skip)")
    qualified: int = Field(
        ge=0,
        description="items that passed every filter and exclusion: items holds min(k, qualified) of them, "
        "fewer than k (possibly none) only when fewer qualify",
    )


class BatchResponse(BaseModel):
    results: list[RecommendResponse]


class SearchResponse(BaseModel):
    items: list[Item]


class NewItem(Checked):
    item: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_ID,
            description="the new item's raw id: any text but control characters (NUL, tab, newline, ...)",
        ),
    ]
    title: Text = ""
    brand: Text = ""
    categories: Text = Field("", description="comma-separated, e.g. 'Office, Pens'")
    description: Text = ""


class AddItemsRequest(Checked):
    items: list[NewItem] = Field(min_length=1, max_length=MAX_NEW_ITEMS)


class AddItemsResponse(BaseModel):
    added: list[str]
    n_items: int = Field(description="the catalog's size with them")


class Facet(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    brand: list[Facet]
    categories: list[Facet]


class Batching(BaseModel):
    enabled: bool
    max_size: int
    max_wait_ms: float
    calls: int = Field(description="recommend_many calls made by the queue so far")
    requests: int = Field(description="requests they answered")


class Health(BaseModel):
    status: Literal["ok"]
    model: str
    n_items: int
    n_trained: int = Field(description="items from training (the rest were added by text)")
    scoring: str
    takes_new_items: bool = Field(description="POST /items works (a text model)")
    writes_need_token: bool
    uptime_s: float
    batching: Batching


class FieldError(BaseModel):
    field: str
    message: str


class Error(BaseModel):
    detail: str = Field(description="what was wrong, naming the field or value")
    errors: list[FieldError] | None = None
