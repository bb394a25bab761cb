"""SQLAlchemy 2 ORM against a running `apus serve` (psycopg 3 driver).

create_all of two related tables (a foreign key, a unique column, VARCHAR, a serial primary
key), session CRUD with insertmanyvalues and RETURNING, eager loading through selectinload
(IN) and joinedload (LEFT OUTER JOIN), an ORM cascade delete, a foreign-key violation from the
database as IntegrityError, a rollback, reflection of tables, columns, primary keys, foreign
keys, indexes and unique constraints through the inspector and MetaData.reflect (what Alembic's
autogenerate reads), and drop_all.
Usage: sqlalchemy_test.py PORT
"""
import sys

from sqlalchemy import ForeignKey, String, create_engine, func, inspect, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, joinedload, mapped_column, relationship, selectinload

port = int(sys.argv[1])
engine = create_engine(f"postgresql+psycopg://apus@127.0.0.1:{port}/apus")
failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "sa_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    books: Mapped[list["Book"]] = relationship(back_populates="author", cascade="all, delete-orphan")


class Book(Base):
    __tablename__ = "sa_books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("sa_authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


Base.metadata.create_all(engine)
check("tables", sorted(t for t in inspect(engine).get_table_names() if t.startswith("sa_")), ["sa_authors", "sa_books"])
with Session(engine) as s:
    s.add_all([
        Author(name="Le Guin", books=[Book(title="Earthsea"), Book(title="The Dispossessed")]),
        Author(name="Herbert", books=[Book(title="Dune")]),
    ])
    s.commit()
with Session(engine) as s:
    authors = s.scalars(select(Author).options(selectinload(Author.books)).order_by(Author.name)).all()
    check("selectinload", [(a.name, sorted(b.title for b in a.books)) for a in authors],
          [("Herbert", ["Dune"]), ("Le Guin", ["Earthsea", "The Dispossessed"])])
    books = s.scalars(select(Book).options(joinedload(Book.author)).order_by(Book.title)).all()
    check("joinedload", [(b.title, b.author.name) for b in books],
          [("Dune", "Herbert"), ("Earthsea", "Le Guin"), ("The Dispossessed", "Le Guin")])
    herbert = s.scalars(select(Author).where(Author.name == "Herbert")).one()
    herbert.name = "Frank Herbert"
    s.delete(authors[1])  # Le Guin and, by the ORM cascade, her books
    s.commit()
with Session(engine) as s:
    check("after delete", s.scalars(select(Book.title)).all(), ["Dune"])
    check("count", s.scalar(select(func.count()).select_from(Author)), 1)
    check("renamed", s.scalars(select(Author.name)).all(), ["Frank Herbert"])
    # The database enforces the foreign key: a book of a missing author is refused.
    try:
        s.execute(insert(Book).values(title="Orphan", author_id=999))
        s.commit()
        failures.append("foreign key: orphan accepted")
    except IntegrityError as e:
        check("foreign key sqlstate", e.orig.sqlstate, "23503")
        s.rollback()
    check("after rollback", s.scalar(select(func.count()).select_from(Book)), 1)
# Reflection of columns and foreign keys (Alembic's autogenerate reads these).
insp = inspect(engine)
cols = {c["name"]: c for c in insp.get_columns("sa_books")}
check("reflected columns", sorted(cols), ["author_id", "id", "title"])
check("reflected type", str(cols["title"]["type"]), "VARCHAR(200)")
check("reflected nullability", (cols["id"]["nullable"], cols["title"]["nullable"]), (False, False))
check("reflected serial", insp.get_columns("sa_authors")[0]["autoincrement"], True)
fks = insp.get_foreign_keys("sa_books")
check("reflected foreign key", [(f["constrained_columns"], f["referred_table"], f["referred_columns"]) for f in fks],
      [(["author_id"], "sa_authors", ["id"])])
check("reflected primary key", insp.get_pk_constraint("sa_books")["constrained_columns"], ["id"])
check("reflected unique constraint", [u["column_names"] for u in insp.get_unique_constraints("sa_authors")], [["name"]])
check("reflected index", [(i["name"], i["column_names"], i["unique"]) for i in insp.get_indexes("sa_books")],
      [("ix_sa_books_title", ["title"], False)])
from sqlalchemy import MetaData  # noqa: E402
md = MetaData()
md.reflect(engine, only=["sa_authors", "sa_books"])
books = md.tables["sa_books"]
check("MetaData.reflect primary key", [c.name for c in books.primary_key.columns], ["id"])
check("MetaData.reflect foreign key", [fk.target_fullname for fk in books.foreign_keys], ["sa_authors.id"])
check("MetaData.reflect index", sorted(i.name for i in books.indexes), ["ix_sa_books_title"])
Base.metadata.drop_all(engine)
check("dropped", [t for t in inspect(engine).get_table_names() if t.startswith("sa_")], [])

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("sqlalchemy: ok")
