"""A title is on a member's watchlist or on their "not interested" list, never both.

Two tables cannot share a UNIQUE constraint, and two transactions that each check "not on the
other list" before inserting both pass (2 of 10 concurrent tries left a title on both lists). A
trigger on both tables takes one advisory lock per (member, title), the lock the services in
``ratings/services.py`` take first, and refuses a row whose pair is on the other list with an
``exclusion_violation`` (Django's IntegrityError). Any writer, the admin and raw SQL included, is
held to it; the services move a title from one list to the other under that lock.

Rows already on both lists keep only the later mark.
"""

from django.db import migrations

FORWARD = r"""
DELETE FROM ratings_notinterested n USING ratings_watchlistitem w
 WHERE n.user_id = w.user_id AND n.title_id = w.title_id AND n.created_at <= w.created_at;
DELETE FROM ratings_watchlistitem w USING ratings_notinterested n
 WHERE n.user_id = w.user_id AND n.title_id = w.title_id AND w.created_at < n.created_at;

CREATE FUNCTION ratings_title_mark_exclusive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The key ratings.services.title_mark_lock uses: the services hold it already (re-entrant).
    PERFORM pg_advisory_xact_lock(hashtextextended('ratings.title_mark:' || NEW.user_id || ':' || NEW.title_id, 0));
    -- Read committed: this statement sees what a writer that held the lock committed.
    IF (TG_TABLE_NAME = 'ratings_watchlistitem' AND EXISTS (
            SELECT 1 FROM ratings_notinterested WHERE user_id = NEW.user_id AND title_id = NEW.title_id))
       OR (TG_TABLE_NAME = 'ratings_notinterested' AND EXISTS (
            SELECT 1 FROM ratings_watchlistitem WHERE user_id = NEW.user_id AND title_id = NEW.title_id)) THEN
        RAISE EXCEPTION 'title % is already on the other list of user %', NEW.title_id, NEW.user_id
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'ratings_title_mark_exclusive';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER ratings_watchlistitem_exclusive
    BEFORE INSERT OR UPDATE OF user_id, title_id ON ratings_watchlistitem
    FOR EACH ROW EXECUTE FUNCTION ratings_title_mark_exclusive();
CREATE TRIGGER ratings_notinterested_exclusive
    BEFORE INSERT OR UPDATE OF user_id, title_id ON ratings_notinterested
    FOR EACH ROW EXECUTE FUNCTION ratings_title_mark_exclusive();
"""

BACKWARD = """
DROP TRIGGER ratings_notinterested_exclusive ON ratings_notinterested;
DROP TRIGGER ratings_watchlistitem_exclusive ON ratings_watchlistitem;
DROP FUNCTION ratings_title_mark_exclusive();
"""


class Migration(migrations.Migration):
    dependencies = [("ratings", "0002_synthetic_run")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
