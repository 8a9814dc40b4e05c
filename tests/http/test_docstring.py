"""Summaries, descriptions and param texts are read from Google, Sphinx and NumPy docstrings."""

from asynctask.http.docstring import parse_docstring


def test_a_google_docstring_gives_its_summary_prose_and_args():
    doc = parse_docstring(
        """Count words.

        Splits on white space.

        Args:
            text (str): the text
                to count.
            lang: its language.

        Returns:
            a dict.
        """
    )
    assert doc.summary == "Count words." and doc.description == "Splits on white space."
    assert doc.params == {"text": "the text to count.", "lang": "its language."}


def test_a_sphinx_docstring_gives_its_params():
    doc = parse_docstring(
        """Count words.

        :param text: the text,
            continued.
        :param str lang: its language.
        :returns: a dict.
        """
    )
    assert doc.description == ""
    assert doc.params == {"text": "the text, continued.", "lang": "its language."}


def test_a_numpy_docstring_gives_its_parameters():
    doc = parse_docstring(
        """Count words.

        Parameters
        ----------
        text : str
            The text.

        lang : str, optional
            Its language.

        Returns
        -------
        dict
        """
    )
    assert doc.params == {"text": "The text.", "lang": "Its language."}


def test_no_docstring_gives_empty_parts():
    doc = parse_docstring(None)
    assert (doc.summary, doc.description, doc.params) == ("", "", {})
