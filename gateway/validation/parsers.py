"""The one place that builds lxml parsers, so every XML document the gateway reads gets one baseline.

Fixed for every parser made here, whatever it is for:

* ``no_network=True``: libxml2 refuses to load anything over the network;
* ``load_dtd=False``, ``dtd_validation=False``, ``attribute_defaults=False``: no external DTD is
  read, nothing is validated against a DTD and no DTD adds attributes;
* ``resolve_entities=False``: no entity, internal or external, is substituted;
* ``huge_tree=False``: libxml2's limits on depth and on text node and attribute sizes stay on;
* ``recover=False``: broken XML is an error, never silently repaired;
* ``decompress=False``: compressed input is not inflated;
* ``collect_ids=True`` (lxml's default): with lxml 6.1 / libxml2 2.14, ``collect_ids=False``
  makes libxml2 read an external DTD or parameter entity from the file system although
  ``load_dtd`` is off (``tests/unit/validation/test_parsers.py`` shows it).

lxml processes XInclude only when explicitly asked to, which no gateway module
does. Callers choose only what is left: whether processing instructions are dropped, and a
resolver that decides which documents a schema may load.
"""

from __future__ import annotations

from lxml import etree

__all__ = ["hardened_parser", "payload_parser", "schema_parser"]


def hardened_parser(*, remove_pis: bool = False, resolver: etree.Resolver | None = None) -> etree.XMLParser:
    """A parser with the fixed baseline; ``resolver`` (if given) is consulted for every load."""
    parser = etree.XMLParser(
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        resolve_entities=False,
        huge_tree=False,
        recover=False,
        decompress=False,
        collect_ids=True,
        remove_pis=remove_pis,
    )
    if resolver is not None:
        parser.resolvers.add(resolver)
    return parser


def payload_parser() -> etree.XMLParser:
    """For untrusted payloads: processing instructions are dropped."""
    return hardened_parser(remove_pis=True)


def schema_parser(resolver: etree.Resolver) -> etree.XMLParser:
    """For compiling XSDs: every document libxml2 wants to load is first offered to ``resolver``."""
    return hardened_parser(resolver=resolver)
