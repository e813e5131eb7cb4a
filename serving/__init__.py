"""The serving container: price recommendations over HTTP from promoted bundles only.

It imports the plain core of ``pricing_assets`` (models, pricing, bundle, store, settings) and
never Dagster, so it starts fast and its image stays small.
"""
