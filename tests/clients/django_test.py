"""Django 5 ORM against `apus serve`: migrations of django.contrib.auth and contenttypes
(DEFERRABLE INITIALLY DEFERRED foreign keys, *_like indexes), a small app's models through the
schema editor, CRUD, select_related / prefetch_related, aggregation, atomic blocks with
savepoints, bulk_create, and the sequence reset that loaddata runs. Run by scripts/client-tests.sh."""
import os
import sys

import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PGDATABASE", "apus"), "USER": os.environ.get("PGUSER", "apus"),
        "PASSWORD": os.environ.get("PGPASSWORD", ""), "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5433"),
    }},
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
)
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, models, transaction, IntegrityError  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


call_command("migrate", verbosity=0)
from django.contrib.auth.models import User, Group, Permission  # noqa: E402

check("permissions created", Permission.objects.count() > 0, True)
u = User.objects.create_user("alice", "alice@example.com", "pw")
g = Group.objects.create(name="staff")
u.groups.add(g)
check("m2m", list(User.objects.filter(groups__name="staff").values_list("username", flat=True)), ["alice"])
check("password check", User.objects.get(username="alice").check_password("pw"), True)


class Author(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        app_label = "shop"


class Book(models.Model):
    title = models.CharField(max_length=200, db_index=True)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    published = models.DateTimeField(null=True)
    tags = models.JSONField(default=dict)

    class Meta:
        app_label = "shop"


with connection.schema_editor() as editor:
    editor.create_model(Author)
    editor.create_model(Book)

tables = connection.introspection.table_names()
check("introspected tables", {"shop_author", "shop_book", "auth_user"} <= set(tables), True)
with connection.cursor() as cur:
    constraints = connection.introspection.get_constraints(cur, "shop_book")
fks = [c for c in constraints.values() if c["foreign_key"]]
check("introspected foreign key", [c["foreign_key"] for c in fks], [("shop_author", "id")])

a = Author.objects.create(name="Ursula")
b = Author.objects.create(name="Iain")
import decimal  # noqa: E402
Book.objects.bulk_create([Book(title=f"Book {i}", author=a if i % 2 else b, price=decimal.Decimal(i) + decimal.Decimal("0.5"),
                               tags={"n": i}) for i in range(10)])
check("count", Book.objects.count(), 10)
check("filter", Book.objects.filter(author__name="Ursula").count(), 5)
check("json lookup", Book.objects.filter(tags__n=3).values_list("title", flat=True).first(), "Book 3")
rows = list(Book.objects.values("author__name").annotate(n=Count("id"), total=Sum("price")).order_by("author__name")
            .values_list("author__name", "n", "total"))
check("aggregate", rows, [("Iain", 5, decimal.Decimal("22.50")), ("Ursula", 5, decimal.Decimal("27.50"))])
with CaptureQueriesContext(connection) as q:
    titles = [bk.author.name for bk in Book.objects.select_related("author").order_by("id")]
check("select_related one query", len(q.captured_queries), 1)
check("select_related", titles[:2], ["Iain", "Ursula"])
check("prefetch", sorted(len(x.book_set.all()) for x in Author.objects.prefetch_related("book_set")), [5, 5])

# Atomic blocks: an inner failure rolls back to its savepoint; the outer block commits.
with transaction.atomic():
    Author.objects.create(name="Ann")
    try:
        with transaction.atomic():
            Author.objects.create(name="Ann")
    except IntegrityError:
        pass
check("savepoint rollback", Author.objects.filter(name="Ann").count(), 1)

# Deferred foreign key: a child before its parent inside one transaction.
with transaction.atomic():
    with connection.cursor() as cur:
        cur.execute("INSERT INTO shop_book (title, author_id, price, tags) VALUES ('early', 9999, 1, '{}')")
        cur.execute("INSERT INTO shop_author (id, name) VALUES (9999, 'Late')")
check("deferred fk", Book.objects.get(title="early").author.name, "Late")
try:
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("INSERT INTO shop_book (title, author_id, price, tags) VALUES ('orphan', 424242, 1, '{}')")
    failures.append("deferred fk: orphan committed")
except IntegrityError:
    pass

# Sequence reset (what loaddata runs after rows with explicit ids).
from django.core.management.color import no_style  # noqa: E402
Author.objects.create(id=500, name="Explicit")
with connection.cursor() as cur:
    for sql in connection.ops.sequence_reset_sql(no_style(), [Author]):
        cur.execute(sql)
check("after sequence reset", Author.objects.create(name="Next").id, 10000)

Book.objects.filter(price__lt=3).update(price=3)
check("update", Book.objects.filter(price=3).count(), 4)
# The database refuses a parent still referenced (NO ACTION, checked at commit).
try:
    with transaction.atomic():
        Author.objects.filter(name="Iain").delete()
    failures.append("delete of a referenced author committed")
except IntegrityError:
    pass
with transaction.atomic():
    Author.objects.filter(name="Iain").delete()
    Book.objects.filter(author__name="Iain").delete()
    Book.objects.filter(author_id=2).delete()
check("delete in one transaction", (Author.objects.filter(name="Iain").count(), Book.objects.filter(author_id=2).count()), (0, 0))
with connection.schema_editor() as editor:
    editor.delete_model(Book)
    editor.delete_model(Author)

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("django ok")
