"""Markdown for reports that are pasted into papers and cards."""


def markdown_table(headers, rows):
    """A GitHub-flavoured Markdown table; `|` inside cells is escaped."""
    def cell(value):
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
