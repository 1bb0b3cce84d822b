"""services/places.py: the lists of townships, villages and sites, and the import's type words."""

from __future__ import annotations

from server.db import db
from server.services import imports, places
from server.services.imports import places as place_import


def test_lists_order_by_code_or_creation(app, world):
    """Townships and villages list by division code unless creation order is asked for."""
    with app.app_context():
        places.create_township(db.session, None, {"code": "360821099000", "name": "甲镇"})
        by_code = [t.code for t in places.list_townships(db.session).items]
        by_id = [t.code for t in places.list_townships(db.session, order="id").items]
    assert by_code == ["360821099000", "360821100000", "360821103000"]
    assert by_id == ["360821100000", "360821103000", "360821099000"]


def test_list_villages_of_a_township_and_search(app, world):
    """township_id and q (name or code) narrow the village list."""
    with app.app_context():
        assert [v.id for v in places.list_villages(db.session, township_id=world.t2).items] == [world.v2]
        assert [v.id for v in places.list_villages(db.session, q="103201").items] == [world.v2]


def test_site_search_by_code_only_when_asked(app, world):
    """q matches a site's code only with q_matches_code (the console's search), its name always."""
    with app.app_context():
        site = places.create_site(db.session, None, {"name": "县医院", "code": "XYY-1", "lat": 27.0, "lng": 114.9})
        assert [s.id for s in places.list_sites(db.session, q="XYY").items] == [site.id]
        assert places.list_sites(db.session, q="XYY", q_matches_code=False).items == []
        assert [s.id for s in places.list_sites(db.session, q="县医", q_matches_code=False).items] == [site.id]


def test_village_counts_and_known_codes(app, world):
    """Each township's village count, and the codes an import row would update rather than add."""
    with app.app_context():
        assert places.village_counts(db.session) == {world.t1: 1, world.t2: 1}
        codes = place_import.known_codes(db.session)
    assert codes == {
        "township": {"360821100000", "360821103000"},
        "village": {"360821100201", "360821103201"},
        "site": set(),
    }


def test_type_words_are_those_the_import_reads(app, world):
    """TYPE_WORDS, which the console's preview reads, decide the kind an imported row becomes."""
    rows = [
        {"type": word, "code": f"36082110{n:04d}", "name": f"镇{n}", "_row": n + 2}
        for n, word in enumerate(w for w, kind in place_import.TYPE_WORDS.items() if kind == "township")
    ]
    with app.app_context():
        report = imports.run(db.session, None, place_import.PlacesImporter(), rows, dry_run=True)
    assert report.errors == [] and report.townships == len(rows)
