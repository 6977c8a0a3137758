import io
import unittest

from textstats.cli import main


def run(argv, text):
    out = io.StringIO()
    code = main(argv, stdin=io.StringIO(text), stdout=out)
    return code, out.getvalue()


class CliTest(unittest.TestCase):
    def test_prints_lines_and_chars_of_stdin(self):
        code, out = run([], "one two\nthree\n")
        self.assertEqual(code, 0)
        self.assertEqual(out, "lines: 2\nchars: 14\n")


if __name__ == "__main__":
    unittest.main()
