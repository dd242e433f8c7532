-- The monthly assessment (考评): the weights of its score, set by an administrator, and what
-- each case's file says about how it was handled (envgrid_cloud.assessment documents every
-- definition; the figures of a township or village are counts over this view).

-- One row: the points each rate is worth. Rates in favour are added, the others subtracted.
CREATE TABLE assessment_weights (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    ack_on_time    double precision NOT NULL CHECK (ack_on_time BETWEEN 0 AND 1000),
    close_on_time  double precision NOT NULL CHECK (close_on_time BETWEEN 0 AND 1000),
    self_found     double precision NOT NULL CHECK (self_found BETWEEN 0 AND 1000),
    overdue        double precision NOT NULL CHECK (overdue BETWEEN 0 AND 1000),
    false_alarm    double precision NOT NULL CHECK (false_alarm BETWEEN 0 AND 1000),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     text  -- the user who set them; NULL: the shipped defaults
);
INSERT INTO assessment_weights (ack_on_time, close_on_time, self_found, overdue, false_alarm)
VALUES (40, 40, 20, 20, 10);

-- Per case: its township and village, and from its events when it was handed over and signed
-- for, whether a deadline was missed, how long it took; then the judgements counted.
--   handed_over_at   the first hand-over: 'dispatched' (automatic), 'dispatch' (a reviewer),
--                    or an escalation of a case still raised (nobody had been found for it)
--   acknowledged_at  the first 'acknowledge' (签收), or 'claim' (an officer takes it and signs)
--   ack_deadline     the acknowledge deadline recorded by the last hand-over before that
--                    ('dispatched', 'dispatch' or 'reassign'); NULL for a case claimed unasked
--   ack_missed_before  an 'escalated' or 'overdue' event for not_acknowledged came before the
--                    first acknowledgement (or there is none)
--   close_missed     an 'escalated' or 'overdue' event for not_closed
--   overdue          any 'escalated' or 'overdue' event
--   ack_seconds      first hand-over (raising, for a case claimed unasked) → first acknowledgement
--   close_seconds    raised → closed (销号), closed cases only
--   ack_due          应签收: acknowledged, or an acknowledge deadline missed before that
--   ack_on_time      按时签收: acknowledged, no acknowledge deadline missed before, and no later
--                    than ack_deadline
--   close_due        应办结: closed, or a close deadline missed
--   close_on_time    按时办结: closed, no close deadline missed, and no later than close_due_at
-- "Before" is by event id: a case's events are written one at a time with the case locked.
CREATE VIEW case_assessment AS
SELECT f.*,
       (f.acknowledged_at IS NOT NULL OR f.ack_missed_before) AS ack_due,
       coalesce(f.acknowledged_at IS NOT NULL AND NOT f.ack_missed_before
                AND (f.ack_deadline IS NULL OR f.acknowledged_at <= f.ack_deadline), false)
           AS ack_on_time,
       (f.state = 'closed' OR f.close_missed) AS close_due,
       coalesce(f.state = 'closed' AND NOT f.close_missed AND f.closed_at <= f.close_due_at, false)
           AS close_on_time
FROM (
    SELECT c.id AS case_id,
           c.township_id,
           CASE cell.level WHEN 'village' THEN cell.id WHEN 'group' THEN cell.parent_id END
               AS village_id,
           c.source,
           c.state,
           c.raised_at,
           c.closed_at,
           c.close_due_at,
           h.handed_over_at,
           a.acknowledged_at,
           d.ack_deadline,
           m.ack_missed_before,
           m.close_missed,
           m.overdue,
           extract(epoch FROM a.acknowledged_at
                   - CASE WHEN h.handed_over_at <= a.acknowledged_at
                          THEN h.handed_over_at ELSE c.raised_at END)::float8 AS ack_seconds,
           CASE WHEN c.state = 'closed'
                THEN extract(epoch FROM c.closed_at - c.raised_at)::float8 END AS close_seconds
    FROM cases c
    JOIN sites s ON s.id = c.site_id
    JOIN grid_cells cell ON cell.id = s.cell_id
    LEFT JOIN LATERAL (
        SELECT min(e.at) AS handed_over_at
        FROM case_events e
        WHERE e.case_id = c.id
          AND (e.action IN ('dispatched', 'dispatch')
               OR (e.action = 'escalated' AND e.from_state = 'raised'))
    ) h ON true
    LEFT JOIN LATERAL (
        SELECT e.id AS ack_event_id, e.at AS acknowledged_at
        FROM case_events e
        WHERE e.case_id = c.id AND e.action IN ('acknowledge', 'claim')
        ORDER BY e.id
        LIMIT 1
    ) a ON true
    LEFT JOIN LATERAL (
        SELECT (e.detail ->> 'ack_due_at')::timestamptz AS ack_deadline
        FROM case_events e
        WHERE e.case_id = c.id AND e.action IN ('dispatched', 'dispatch', 'reassign')
          AND e.id < a.ack_event_id AND e.detail ? 'ack_due_at'
        ORDER BY e.id DESC
        LIMIT 1
    ) d ON true
    LEFT JOIN LATERAL (
        SELECT
            coalesce(bool_or(e.detail -> 'reasons' ? 'not_acknowledged'
                             AND (a.ack_event_id IS NULL OR e.id < a.ack_event_id)), false)
                AS ack_missed_before,
            coalesce(bool_or(e.detail -> 'reasons' ? 'not_closed'), false) AS close_missed,
            count(*) > 0 AS overdue
        FROM case_events e
        WHERE e.case_id = c.id AND e.action IN ('escalated', 'overdue')
    ) m ON true
) f;
