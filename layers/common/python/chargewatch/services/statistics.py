"""GET /v1/statistics: tenant totals from maintained counters (see docs/statistics.md)."""

from __future__ import annotations

from chargewatch.dal import organizations as organizations_dal
from chargewatch.dal import stations as stations_dal
from chargewatch.schemas.anomalies import Statistics
from chargewatch.services import shade

DEFAULT_PRICE_PER_KWH = 0.35
DEFAULT_CURRENCY = "EUR"


def tariff(organization_id: str) -> tuple[float, str]:
    organization = organizations_dal.get(organization_id)
    if organization is None:
        return DEFAULT_PRICE_PER_KWH, DEFAULT_CURRENCY
    return float(organization.pricePerKwh or DEFAULT_PRICE_PER_KWH), organization.currency or DEFAULT_CURRENCY


def _money(amount: float) -> float:
    return round(max(0.0, amount), 2)


def get_statistics(organization_id: str) -> Statistics:
    price, currency = tariff(organization_id)
    totals = stations_dal.totals(organization_id)  # one GetItem: every count below is maintained at write time
    uptime_percentage, uptime_delta = shade.uptime_statistics(organization_id)

    def value(name: str) -> float:
        return float(getattr(totals, name) or 0) if totals else 0.0

    return Statistics(
        activeAnomaliesCount=int(value("activeAnomalies")),
        sessionsWithAnomaliesCount=int(value("sessionsWithAnomalies")),
        connectorsWithAnomaliesCount=int(value("connectorsWithAnomalies")),
        totalAnomaliesCount=int(value("totalAnomalies")),
        chargingStationsWithAnomaliesCount=int(value("stationsWithAnomalies")),
        uptimePercentage=uptime_percentage,
        uptimeDelta=uptime_delta,
        totalSessions=int(value("totalSessions")),
        totalRevenue=_money(value("energyKwh") * price),
        revenueAtRisk=_money(value("openIncidentEnergyKwh") * price),
        revenueLeakEstimate=_money(value("leakEnergyKwh") * price),
        currency=currency,
        pricePerKwh=price,
    )
