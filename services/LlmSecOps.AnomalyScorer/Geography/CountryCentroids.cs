using System.Collections.Frozen;
using System.Globalization;

namespace LlmSecOps.AnomalyScorer.Geography;

/// <summary>
/// ISO 3166-1 alpha-2 country code -&gt; approximate geographic centre, from the embedded
/// <c>country-centroids.csv</c> (Google DSPL canonical countries table, CC BY 4.0; see the file's header).
/// </summary>
public static class CountryCentroids
{
    /// <summary>Mean Earth radius in km (IUGG).</summary>
    public const double EarthRadiusKm = 6371.0088;

    private static readonly FrozenDictionary<string, (double Lat, double Lon)> Table = Load();

    /// <summary>How many countries have a centroid.</summary>
    public static int Count => Table.Count;

    /// <summary>Looks up a country's centroid; false for unknown or empty codes.</summary>
    public static bool TryGet(string? country, out double latitude, out double longitude)
    {
        if (country is not null && Table.TryGetValue(country, out var c))
        {
            (latitude, longitude) = c;
            return true;
        }

        latitude = longitude = double.NaN;
        return false;
    }

    /// <summary>Great-circle distance between two countries' centroids in km, or null if either is unknown.</summary>
    public static double? DistanceKm(string? a, string? b)
    {
        if (!TryGet(a, out var lat1, out var lon1) || !TryGet(b, out var lat2, out var lon2))
        {
            return null;
        }

        return Haversine(lat1, lon1, lat2, lon2);
    }

    /// <summary>Great-circle distance in km by the haversine formula.</summary>
    public static double Haversine(double lat1, double lon1, double lat2, double lon2)
    {
        const double ToRad = Math.PI / 180;
        var dLat = (lat2 - lat1) * ToRad;
        var dLon = (lon2 - lon1) * ToRad;
        var a = (Math.Sin(dLat / 2) * Math.Sin(dLat / 2))
            + (Math.Cos(lat1 * ToRad) * Math.Cos(lat2 * ToRad) * Math.Sin(dLon / 2) * Math.Sin(dLon / 2));
        return 2 * EarthRadiusKm * Math.Asin(Math.Min(1, Math.Sqrt(a)));
    }

    private static FrozenDictionary<string, (double, double)> Load()
    {
        using var stream = typeof(CountryCentroids).Assembly.GetManifestResourceStream("LlmSecOps.AnomalyScorer.Geography.country-centroids.csv")
            ?? throw new InvalidOperationException("The embedded country centroid table is missing.");
        using var reader = new StreamReader(stream);
        var table = new Dictionary<string, (double, double)>(StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var parts = line.Split(',');
            table[parts[0]] = (double.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture));
        }

        return table.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
