-- A case's steps in order; uploaded attachments without their data (served one by one).
SELECT e.id, e.at, e.actor, e.action, e.from_state, e.to_state, e.notes, e.detail,
       coalesce((SELECT jsonb_agg((a - 'data_base64') || jsonb_build_object(
                                      'index', t.i - 1, 'stored', a ? 'data_base64')
                                  ORDER BY t.i)
                 FROM jsonb_array_elements(e.attachments) WITH ORDINALITY AS t(a, i)),
                '[]'::jsonb) AS attachments
FROM case_events e
WHERE e.case_id = %(case_id)s
ORDER BY e.id
