"""Page-number pagination (0-based pages) shared by every list endpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class Pagination(BaseModel):
    totalCount: int
    page: int
    size: int


def paginate(
    items: Iterable[T], page: int, size: int, render: Callable[[T], Any] = lambda item: item
) -> tuple[list[Any], Pagination]:
    """One pass: count everything, render only the requested page."""
    first, last = page * size, (page + 1) * size
    content, total = [], 0
    for item in items:
        if first <= total < last:
            content.append(render(item))
        total += 1
    return content, Pagination(totalCount=total, page=page, size=size)


def page_end(page: int, size: int) -> int:
    """Items a query must read for `page` (the pages before it and the page): its limit."""
    return (page + 1) * size


def counted_page(
    items: Iterable[T], page: int, size: int, total: int, render: Callable[[T], Any] = lambda item: item
) -> tuple[list[Any], Pagination]:
    """The page of `items` (a query limited to `page_end`, so the work is the page's) with a
    `totalCount` counted elsewhere (the read model's counters)."""
    first, last = page * size, page_end(page, size)
    content = [render(item) for index, item in enumerate(items) if first <= index < last]
    return content, Pagination(totalCount=total, page=page, size=size)
