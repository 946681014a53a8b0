-- Table macros every SQL recipe may call (loaded by curate.recipes.engine.recipe_connection).
--
-- blank_fields(files, n): the lines of blank-separated metadata files (protocols),
-- numbered from 1 per file, split on runs of spaces or tabs into the list f; blank
-- lines, CRLF and a byte-order mark are read; a line with other than n fields stops
-- the recipe with FILE:LINE and the line. Columns: filename, line_no, text, f.
CREATE MACRO blank_fields(files, n) AS TABLE
WITH lines AS (
    SELECT filename, unnest(range(1, len(parts) + 1)) AS line_no, unnest(parts) AS line
    FROM (SELECT filename, string_split(content, chr(10)) AS parts FROM read_text(files))
),
split AS (
    SELECT filename, line_no, text, regexp_split_to_array(text, '\s+') AS f
    FROM (SELECT *, trim(line, chr(65279) || chr(13) || chr(9) || ' ') AS text FROM lines)
    WHERE text <> ''
)
SELECT * FROM split
WHERE len(f) = n
   OR error(filename || ':' || line_no || ': expected ' || n || ' columns, found '
            || len(f) || ': ''' || left(text, 80) || '''; the line is truncated or this is '
            || 'not the file the recipe expects');
