"""ICP validation: every error names its field path; defaults fill the rest."""

from __future__ import annotations

import pytest

from qualify.errors import ICPError, InputError
from qualify.qualifiers import resolve, validate_icp
from qualify.qualifiers.web import icp as schema


@pytest.mark.parametrize(
    ("icp", "path", "problem"),
    [
        ({}, "name", "required"),
        ({"name": ""}, "name", "must not be empty"),
        ({"name": 3}, "name", "expected a string"),
        ({"name": "x", "colour": "red"}, "colour", "unknown field"),
        ({"name": "x", "employees": {"min": "50"}}, "employees.min", "expected an integer"),
        ({"name": "x", "employees": {"min": True}}, "employees.min", "expected an integer"),
        ({"name": "x", "employees": {"min": 50, "max": 10}}, "employees.max", "must not be below"),
        ({"name": "x", "employees": "lots"}, "employees", "bucket"),
        ({"name": "x", "employees": {"minimum": 5}}, "employees.minimum", "did you mean 'min'"),
        ({"name": "x", "industries": {"name": "a"}}, "industries", "expected a list"),
        ({"name": "x", "industries": [{"keywords": ["a"]}]}, "industries[0].name", "required"),
        ({"name": "x", "industries": [{"name": "a", "keywords": ["ok", 7]}]},
         "industries[0].keywords[1]", "expected a string"),
        ({"name": "x", "keywords": {"any": "api"}}, "keywords.any", "expected a list"),
        ({"name": "x", "keywords": {"nope": []}}, "keywords.nope", "unknown field"),
        ({"name": "x", "business_model": ["b2g"]}, "business_model[0]", "expected one of"),
        ({"name": "x", "countries": ["DE"]}, "countries", "expected an object"),
        ({"name": "x", "countries": {"include": ["Germany"]}}, "countries.include[0]",
         "two-letter"),
        ({"name": "x", "languages": ["german"]}, "languages[0]", "ISO 639-1"),
        ({"name": "x", "technologies": {"any": ["Hubspt"]}}, "technologies.any[0]",
         "did you mean 'HubSpot'"),
        ({"name": "x", "signals": {"prefer": ["free_lunch"]}}, "signals.prefer[0]", "one of"),
        ({"name": "x", "exclude_domains": ["localhost"]}, "exclude_domains[0]", "not"),
        ({"name": "x", "hard_filters": ["everything"]}, "hard_filters[0]", "one of"),
        ({"name": "x", "weights": {"industry": 3}}, "weights.industry", "did you mean"),
        ({"name": "x", "weights": {"industries": -1}}, "weights.industries", "between"),
        ({"name": "x", "weights": {"industries": "high"}}, "weights.industries", "a number"),
        ({"name": "x", "thresholds": {"qualified": 101}}, "thresholds.qualified", "between"),
        ({"name": "x", "thresholds": {"qualified": 40, "review": 60}}, "thresholds.review",
         "must not be above"),
        ([], "", "expected an object"),
    ],
)  # fmt: skip
def test_errors_name_the_field(icp, path, problem):
    with pytest.raises(ICPError) as caught:
        schema.validate_icp(icp)
    assert caught.value.path == path
    assert problem in caught.value.problem
    assert isinstance(caught.value, InputError)  # the CLI maps it to exit code 2


def test_the_lead_example_message():
    with pytest.raises(ICPError) as caught:
        schema.validate_icp({"name": "x", "employees": {"min": "many"}})
    assert str(caught.value) == "employees.min: expected an integer"


def test_example_icp_is_valid_and_complete():
    icp = schema.example_icp()
    normalized = schema.normalize(icp)
    assert schema.active_criteria(normalized) == list(schema.CRITERIA)
    assert normalized["technologies"]["any"] == ["HubSpot", "Segment"]


def test_defaults_and_normalisation():
    n = schema.normalize(
        {
            "name": "Minimal",
            "employees": "51-200",
            "countries": {"include": ["de", "uk"]},
            "technologies": {"none": ["shopify"]},
            "industries": [{"name": "Logistics"}],
            "exclude_domains": ["https://www.Competitor.com/about"],
        }
    )
    assert n["employees"] == {"min": 51, "max": 200}
    assert n["countries"]["include"] == ["DE", "GB"]
    assert n["technologies"]["none"] == ["Shopify"]
    assert n["industries"][0]["keywords"] == ["Logistics"]  # the name doubles as keyword
    assert n["exclude_domains"] == ["www.competitor.com"]
    assert n["weights"] == schema.DEFAULT_WEIGHTS
    assert n["thresholds"] == schema.DEFAULT_THRESHOLDS
    assert n["hard_filters"] == list(schema.DEFAULT_HARD_FILTERS)
    assert schema.active_criteria(n) == ["industries", "employees", "countries", "technologies"]
    assert schema.normalize({"name": "x", "employees": "1000+"})["employees"] == {
        "min": 1000, "max": None,
    }  # fmt: skip


def test_explicit_hard_filters_always_keep_exclude_domains():
    n = schema.normalize({"name": "x", "hard_filters": ["countries"]})
    assert n["hard_filters"] == ["countries", "exclude_domains"]


def test_registered_as_the_default_builtin_qualifier():
    from qualify.qualifiers import BUILTIN, DEFAULT_QUALIFIER

    assert DEFAULT_QUALIFIER == "web"
    qualifier = resolve(BUILTIN["web"])
    assert qualifier is resolve("web")
    validate_icp(qualifier, schema.example_icp())
    with pytest.raises(ICPError):
        validate_icp(qualifier, {"name": "x", "weights": {"industries": "a lot"}})
