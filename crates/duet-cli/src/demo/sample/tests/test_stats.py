import unittest

from textstats import stats


class LineCountTest(unittest.TestCase):
    def test_empty_text_has_no_lines(self):
        self.assertEqual(stats.line_count(""), 0)

    def test_last_line_without_newline_counts(self):
        self.assertEqual(stats.line_count("a\nb"), 2)
        self.assertEqual(stats.line_count("a\nb\n"), 2)


class CharCountTest(unittest.TestCase):
    def test_counts_newlines(self):
        self.assertEqual(stats.char_count("ab\n"), 3)


if __name__ == "__main__":
    unittest.main()
