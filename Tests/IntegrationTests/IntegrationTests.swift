import Testing

/// Every suite that starts processes runs inside this one, one test at a time: they share
/// two cores, and their timing checks need them.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct IntegrationTests {}
